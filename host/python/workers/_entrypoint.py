"""What a handler is given besides the request: ``WorkerEntrypoint`` (``self.env``, ``self.ctx``), the ``env`` of
vars, the ``ctx`` with ``wait_until``, and the event objects of scheduled and queue handlers.

The runtime (``_pyworkers.entrypoint``) makes these; this module holds no state of its own.
"""


class Env:
    """The worker's vars (from the config and ``--var``): ``env.NAME``, ``env["NAME"]``, ``"NAME" in env``,
    ``env.get("NAME", default)``. Values are ``str``, or the JSON value the config gave."""

    __slots__ = ("_vars",)

    def __init__(self, vars=None):
        object.__setattr__(self, "_vars", dict(vars or {}))

    def __getattr__(self, name):
        try:
            return self._vars[name]
        except KeyError:
            raise AttributeError(f"env has no binding or var named {name!r}") from None

    def __setattr__(self, name, value):
        self._vars[name] = value

    def __getitem__(self, name):
        return self._vars[name]

    def __contains__(self, name):
        return name in self._vars

    def __iter__(self):
        return iter(self._vars)

    def __len__(self):
        return len(self._vars)

    def get(self, name, default=None):
        return self._vars.get(name, default)

    def keys(self):
        return self._vars.keys()

    def items(self):
        return self._vars.items()

    def __repr__(self):
        return f"Env({sorted(self._vars)!r})"


class Context:
    """A handler's ``ctx``: ``wait_until(awaitable)`` keeps work going after the response is sent."""

    __slots__ = ("_wait_until", "_event")

    def __init__(self, wait_until, event=None):
        # wait_until(event, awaitable): the runtime's, told which event this ctx belongs to.
        self._wait_until = wait_until
        self._event = event

    def wait_until(self, awaitable):
        """Run ``awaitable`` after the response has gone out; the instance takes no new request until it is done."""
        self._wait_until(self._event, awaitable)

    waitUntil = wait_until

    def pass_through_on_exception(self):
        """Accepted for compatibility. There is no origin behind pyworkers to pass the request through to."""

    passThroughOnException = pass_through_on_exception


class WorkerEntrypoint:
    """Base class of a class-style worker: define ``fetch(self, request)``, ``scheduled(self, controller, env,
    ctx)`` or ``queue(self, batch, env, ctx)`` (``async def`` or plain ``def``) on a subclass named ``Default``
    (or on the module's only subclass). An instance is made for each event, with ``self.env`` and ``self.ctx``."""

    def __init__(self, ctx, env):
        self.ctx = ctx
        self.env = env


class ScheduledController:
    """A cron trigger firing: ``cron`` (the expression), ``scheduled_time`` (ms since the Unix epoch)."""

    __slots__ = ("cron", "scheduled_time")

    type = "scheduled"

    def __init__(self, cron, scheduled_time):
        self.cron = cron
        self.scheduled_time = scheduled_time

    @property
    def scheduledTime(self):
        return self.scheduled_time

    def no_retry(self):
        """Accepted for compatibility: pyworkers does not retry a failed scheduled event."""

    noRetry = no_retry

    def __repr__(self):
        return f"ScheduledController(cron={self.cron!r}, scheduled_time={self.scheduled_time!r})"


class Message:
    """One queue message: ``id``, ``timestamp`` (a UTC ``datetime``), ``body`` (its JSON value), ``attempts``."""

    __slots__ = ("id", "timestamp", "body", "attempts", "_outcome")

    def __init__(self, id, timestamp, body, attempts):
        self.id = id
        self.timestamp = timestamp
        self.body = body
        self.attempts = attempts
        self._outcome = None

    def ack(self):
        self._outcome = "ack"

    def retry(self, **options):
        self._outcome = "retry"

    def __repr__(self):
        return f"Message(id={self.id!r}, body={self.body!r})"


class MessageBatch:
    """A batch of queue messages: ``queue`` (its name), ``messages``; ``ack_all()``/``retry_all()``."""

    __slots__ = ("queue", "messages")

    def __init__(self, queue, messages):
        self.queue = queue
        self.messages = messages

    def ack_all(self):
        for message in self.messages:
            message.ack()

    def retry_all(self, **options):
        for message in self.messages:
            message.retry()

    ackAll = ack_all
    retryAll = retry_all

    def __repr__(self):
        return f"MessageBatch(queue={self.queue!r}, {len(self.messages)} messages)"
