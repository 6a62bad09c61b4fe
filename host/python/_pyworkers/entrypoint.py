"""The guest's side of the ``entrypoint`` interface: finds a worker's handlers and runs them as the host's events
arrive.

The host calls these through the C API, each ``function(bytes) -> bytes`` over ``marshal`` data (results are
``marshal`` version 2, which has no back-references):

``load(module_name)``
    While a dedicated snapshot is prepared, right after the worker module is imported: finds its handlers as
    Cloudflare does and returns their names, e.g. ``("fetch", "scheduled")``.
``handlers(b"")``
    The same names again, in a restored instance.
``configure({"vars": {...}, "name": str, "bindings": {...}, "object": {...} | None})``
    Once per restored instance, after ``restored()``: the ``env`` handlers see, and the instance's event loop. With
    ``object`` the instance is that Durable Object (``{"class", "binding", "id", "name", "key", "sqlite"}``): it
    makes the object before its first event, and takes ``call`` events and ``fetch`` for the object's ``fetch``.
``step([event, ...])``
    The reactor: takes the host's events (new requests, results of outbound calls, cancellations), runs the event
    loop until nothing is ready — it never blocks, the host is the outer loop and does the waiting — and returns
    ``(outbox, next_timer, background)``: the events for the host, the seconds until the earliest asyncio timer
    (None: no timer; 0: call again at once), and how many ``ctx.wait_until`` tasks are still pending.

Events in: ``fetch``, ``scheduled``, ``queue``, ``call`` (a Durable Object method call, in an object's instance),
``result`` (of an outbound fetch), ``returned`` (of a Durable Object call), ``cancel``. Events out: ``response``,
``done``, ``error``, ``return`` (a method's value), ``fetch`` (outbound), ``call`` (on a Durable Object stub).

A Durable Object call carries its *chain*: the keys of the objects whose calls wait on it (the host lets an object
take a call re-entrantly when it is in the chain; see the host's ``serve/bindings/durable``). The chain of the
code running now is the context variable ``_chain``: set while an object's event starts, inherited by the tasks it
creates.

A handler that never really suspends completes inside ``step`` with no scheduling at all (an eager task
factory), which is what keeps a hello-world request at a few microseconds of Python. Nothing on that path
imports, inspects or parses: all of that happens once, in ``load``.
"""

import asyncio
import contextvars
import heapq
import marshal
import sys
import traceback
import types
from functools import partial

from workers._entrypoint import Context, Env, Message, MessageBatch, ScheduledController, WorkerEntrypoint
from workers._messages import Request, Response

from . import eventloop, hostcall

_loads = marshal.loads
_dumps = marshal.dumps
_Coroutine = types.CoroutineType

#: The handler names ``load`` found, in a fixed order.
_names = ()
#: Event kind → callable(event object, ctx) returning the handler's result (a value or an awaitable).
_invokers = {}
#: Event kind → the name the worker would have to define (for "not-defined" errors); set by ``load``.
_wanted = {}

_env = Env()
_name = ""
_loop = None
#: The worker's module (what ``load`` imported): where a Durable Object's class is found.
_module_name = ""
#: In a Durable Object's instance: its descriptor from the host, and the object once made.
_object_spec = None
_object = None
#: Awaitables ``ctx.block_concurrency_while`` started: the object takes no event until they are done.
_held = []
#: The Durable Objects whose calls wait on the code running now (see the module docs).
_chain = contextvars.ContextVar("pyworkers_durable_object_chain", default=())

#: Events for the host, collected during one step.
_outbox = []
#: Request id → the task running its handler, while it runs.
_tasks = {}
#: Outbound op id → the future its result completes.
_ops = {}
_next_op = 1
#: Ids of the requests (and scheduled/queue events) whose handlers have not finished.
_active = set()
#: Request id → awaitables its handler passed to wait_until, started once its response is out.
_parked = {}
#: wait_until awaitables to start at the beginning of the next step.
_to_start = []
#: wait_until tasks that are running.
_background = set()


# --- handler discovery (once, while a snapshot is prepared) ---------------------------------------------------


def load(module_name):
    """Find the handlers of the worker module ``module_name`` (bytes); returns marshal((names...))."""
    import importlib

    global _names, _invokers, _module_name
    name = module_name.decode() if isinstance(module_name, (bytes, bytearray)) else module_name
    module = importlib.import_module(name)
    _module_name = name
    cls = _entrypoint_class(module)
    invokers = {}
    for kind in ("fetch", "scheduled", "queue"):
        _wanted[kind] = f"{cls.__name__}.{kind}" if cls is not None else f"on_{kind}"
    if cls is not None:
        for kind in ("fetch", "scheduled", "queue"):
            method = getattr(cls, kind, None)
            if callable(method):
                invokers[kind] = _class_invoker(cls, kind, _arity(method) - 1)
    else:
        for kind in ("fetch", "scheduled", "queue"):
            fn = getattr(module, f"on_{kind}", None)
            if callable(fn):
                invokers[kind] = _function_invoker(fn, _arity(fn))
    _invokers = invokers
    _names = tuple(invokers)
    # Built now, while the snapshot is prepared, so every restored instance starts with its loop already made
    # (building one costs more than the rest of an instance's start-up). It starts running only in `configure`,
    # so code run from the snapshot outside `serve` can still call `asyncio.run`.
    _build_loop()
    return _dumps(_names, 2)


def handlers(_=b""):
    """The handler names ``load`` found: marshal((names...))."""
    return _dumps(_names, 2)


def _entrypoint_class(module):
    """``Default`` if it is a ``WorkerEntrypoint`` subclass, else the module's only one, else None."""
    found = [
        value
        for value in vars(module).values()
        if isinstance(value, type) and issubclass(value, WorkerEntrypoint) and value is not WorkerEntrypoint
    ]
    default = getattr(module, "Default", None)
    if default in found:
        return default
    if len(found) > 1:
        # Classes imported from elsewhere (a base class, say) do not count against the one defined here.
        found = [value for value in found if value.__module__ == module.__name__]
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(sorted(value.__name__ for value in found))
        raise TypeError(
            f"worker module {module.__name__!r} defines several WorkerEntrypoint subclasses ({names}): "
            "name the one that handles events `Default`"
        )
    return None


def _arity(fn):
    """How many positional arguments ``fn`` takes (3 or more: all of them)."""
    import inspect

    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 4
    count = 0
    for param in params:
        if param.kind is param.VAR_POSITIONAL:
            return 4
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            count += 1
    return count


def _class_invoker(cls, kind, arity):
    # WorkerEntrypoint methods: fetch(self, request); scheduled/queue(self, event, env, ctx), trailing ones optional.
    if kind == "fetch" or arity <= 1:
        return lambda event, ctx: getattr(cls(ctx, _env), kind)(event)
    if arity == 2:
        return lambda event, ctx: getattr(cls(ctx, _env), kind)(event, _env)
    return lambda event, ctx: getattr(cls(ctx, _env), kind)(event, _env, ctx)


def _function_invoker(fn, arity):
    # on_fetch(request, env, ctx) and friends: the trailing parameters are optional.
    if arity == 0:
        return lambda event, ctx: fn()
    if arity == 1:
        return lambda event, ctx: fn(event)
    if arity == 2:
        return lambda event, ctx: fn(event, _env)
    return lambda event, ctx: fn(event, _env, ctx)


# --- per instance ---------------------------------------------------------------------------------------------


def configure(frame):
    """Set ``env`` and this instance's name (and the object it is, if it is one), and make its event loop:
    marshal(None)."""
    global _name, _object_spec
    config = _loads(frame) if frame else {}
    # In place: a worker module may hold `env` from `from workers import env`, imported before this instance ran.
    _env._vars.clear()
    _env._vars.update(config.get("vars") or {})
    if config.get("bindings"):
        from workers import _bindings

        _env._vars.update(_bindings.make(config["bindings"]))
    _name = config.get("name") or ""
    _object_spec = config.get("object")
    _ensure_loop()
    return _dumps(None, 2)


_built = None


def _build_loop():
    global _built
    if _built is None:
        loop = eventloop.loop_class()(blocking=False)
        loop.set_task_factory(asyncio.eager_task_factory)
        loop.set_exception_handler(_exception_handler)
        _built = loop
    return _built


def _ensure_loop():
    global _loop
    if _loop is None:
        loop = _build_loop()
        # The host is the outer loop (as a GUI toolkit's is, the case this hook exists for): the asyncio loop
        # counts as running for the instance's whole life, and each step runs its iterations.
        loop._run_forever_setup()
        _loop = loop
    return _loop


def _exception_handler(loop, context):
    # A handler's task that raised SystemExit in its eager first run never reaches _run_handler as a task (the
    # exception does, and is reported as the request's error): don't report it a second time when it is dropped.
    if isinstance(context.get("exception"), (SystemExit, KeyboardInterrupt)) and "future" in context:
        return
    loop.default_exception_handler(context)


def env():
    """The instance's ``env`` (what ``configure`` set)."""
    return _env


# --- the reactor ----------------------------------------------------------------------------------------------


def step(frame):
    """Handle the host's events, run the loop until nothing is ready: marshal((outbox, next_timer, background))."""
    global _outbox
    loop = _loop or _ensure_loop()
    if _to_start:
        _start_background()
    for event in _loads(frame):
        try:
            _dispatch(event)
        except Exception as exc:
            # A malformed event is the host's bug; it must not lose the other events of this step.
            print(f"pyworkers: cannot handle host event {event!r:.200}: {exc!r}", file=sys.stderr)
    ready = loop._ready
    while ready or _timer_due(loop):
        try:
            loop._run_once()
        except (SystemExit, KeyboardInterrupt):
            # Raised in a handler's task: the task holds the exception too and reports it as that request's error.
            pass
    outbox = _outbox
    _outbox = []
    return _dumps((outbox, _next_timer(loop), len(_background) + len(_to_start)), 2)


def _dispatch(event):
    kind = event[0]
    if kind == "fetch":
        _on_fetch(*event[1:])
    elif kind == "result":
        _on_result(*event[1:])
    elif kind == "call":
        _on_call(*event[1:])
    elif kind == "returned":
        _on_returned(*event[1:])
    elif kind == "scheduled":
        _on_scheduled(*event[1:])
    elif kind == "queue":
        _on_queue(*event[1:])
    elif kind == "cancel":
        _on_cancel(event[1])
    else:
        raise ValueError(f"unknown event kind {kind!r}")


def _timer_due(loop):
    scheduled = loop._scheduled
    return bool(scheduled) and scheduled[0]._when < loop.time() + loop._clock_resolution


def _next_timer(loop):
    if _to_start:
        return 0.0
    scheduled = loop._scheduled
    # Cancelled timers stay in the heap until the loop drops them; don't wake the host for one.
    while scheduled and scheduled[0]._cancelled:
        loop._timer_cancelled_count -= 1
        heapq.heappop(scheduled)._scheduled = False
    if not scheduled:
        return None
    return max(0.0, scheduled[0]._when - loop.time())


def _on_fetch(rid, method, url, headers, body):
    request = Request._from_host(method, url, headers, body)
    invoke = _invokers.get("fetch")
    if invoke is None:
        _outbox.append(("error", rid, "not-defined", _wanted.get("fetch", "on_fetch")))
        return
    _run_handler(rid, invoke, request, _respond)


def _on_scheduled(rid, cron, scheduled_time):
    invoke = _invokers.get("scheduled")
    if invoke is None:
        _outbox.append(("error", rid, "not-defined", _wanted.get("scheduled", "on_scheduled")))
        return
    _run_handler(rid, invoke, ScheduledController(cron, scheduled_time), _done)


def _on_queue(rid, queue, messages):
    invoke = _invokers.get("queue")
    if invoke is None:
        _outbox.append(("error", rid, "not-defined", _wanted.get("queue", "on_queue")))
        return
    import datetime
    import json

    try:
        batch = MessageBatch(
            queue,
            [
                Message(id, datetime.datetime.fromtimestamp(ts / 1000, datetime.UTC), json.loads(body), attempts)
                for id, ts, body, attempts in messages
            ],
        )
    except Exception as exc:
        _fail(rid, exc)
        return
    _run_handler(rid, _settling(invoke), batch, _done)


def _settling(invoke):
    """``invoke`` that, however it ends, tells the host which messages were explicitly acked or retried (the
    host settles the rest by whether it raised). Without the host device (``/__queue`` tests under ``run``),
    nothing is reported."""

    async def run(batch, ctx):
        try:
            result = invoke(batch, ctx)
            if hasattr(result, "__await__"):
                result = await result
            return result
        finally:
            outcomes = [(m.id, m._outcome == "ack") for m in batch.messages if m._outcome is not None]
            if outcomes:
                try:
                    hostcall.call(_dumps(("queue.settle", outcomes), 2))
                except OSError:
                    pass

    return run


def _run_handler(rid, invoke, event, finish):
    """Call a handler; ``finish(rid, result)`` emits its outcome, now if it completes at once, else when it does."""
    ctx = Context(_wait_until, rid)
    _active.add(rid)
    try:
        result = invoke(event, ctx)
        if type(result) is not Response and hasattr(result, "__await__"):
            if type(result) is _Coroutine or asyncio.iscoroutine(result):
                task = _loop.create_task(result)
            else:
                task = asyncio.ensure_future(result)
            if not task.done():
                _tasks[rid] = task
                task.add_done_callback(partial(_task_done, rid, finish))
                return
            result = task.result()
    except BaseException as exc:
        # Even SystemExit: a handler calling sys.exit() fails its request, not the instance.
        _fail(rid, exc)
        return
    finish(rid, result)


def _task_done(rid, finish, task):
    if _tasks.pop(rid, None) is None:
        return  # cancelled by the host: it expects nothing more
    if task.cancelled():
        _fail(rid, asyncio.CancelledError("the handler's task was cancelled"))
        return
    exc = task.exception()
    if exc is not None:
        _fail(rid, exc)
    else:
        finish(rid, task.result())


def _respond(rid, response):
    if not isinstance(response, Response):
        _outbox.append(
            (
                "error",
                rid,
                "exception",
                f"TypeError: the fetch handler returned {type(response).__name__}, not a workers.Response\n",
            )
        )
    else:
        _outbox.append(("response", rid, response.status, response.headers._list, response._body))
    _release(rid)


def _done(rid, _result):
    _outbox.append(("done", rid))
    _release(rid)


def _fail(rid, exc):
    _outbox.append(("error", rid, "exception", _traceback_text(exc)))
    _release(rid)


def _traceback_text(exc):
    # The user's frames only: drop this module's from the top.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))


def _on_cancel(rid):
    _active.discard(rid)
    task = _tasks.pop(rid, None)
    if task is not None:
        task.cancel()
    for awaitable in _parked.pop(rid, ()):
        _discard(awaitable)


# --- ctx.wait_until -------------------------------------------------------------------------------------------


def _wait_until(rid, awaitable):
    if not hasattr(awaitable, "__await__"):
        kind = type(awaitable).__name__
        raise TypeError(f"wait_until() needs an awaitable (a coroutine, task or future), not {kind}")
    if not asyncio.iscoroutine(awaitable):
        # Already running (a task or future): only keep count of it.
        _track(asyncio.ensure_future(awaitable))
    elif rid in _active:
        _parked.setdefault(rid, []).append(awaitable)
    else:
        _to_start.append(awaitable)


def _release(rid):
    """``rid`` is finished: its wait_until work starts at the next step, once the host has sent its response."""
    _active.discard(rid)
    parked = _parked.pop(rid, None)
    if parked:
        _to_start.extend(parked)


def _start_background():
    pending = _to_start[:]
    _to_start.clear()
    for awaitable in pending:
        _track(_loop.create_task(awaitable))


def _track(task):
    _background.add(task)
    task.add_done_callback(_background_done)


def _background_done(task):
    _background.discard(task)
    if not task.cancelled() and task.exception() is not None:
        exc = task.exception()
        print(f"pyworkers: ctx.wait_until task failed:\n{_traceback_text(exc)}", end="", file=sys.stderr)


def _discard(awaitable):
    if asyncio.iscoroutine(awaitable):
        awaitable.close()


# --- Durable Objects ------------------------------------------------------------------------------------------


def module_name():
    """The worker's module (where its Durable Object classes are)."""
    return _module_name


def _the_object():
    global _object
    if _object is None:
        from workers._durable import make_object

        _object = make_object(_object_spec, _env)
    return _object


def _after_held(invoke):
    """``invoke``, made to wait first for what ``block_concurrency_while`` started (while the object is made, say)."""

    def run(event, ctx):
        obj = _the_object()
        if not _held:
            return invoke(obj, event)
        return _wait_then(obj, invoke, event)

    return run


async def _wait_then(obj, invoke, event):
    global _object
    try:
        while _held:
            await _held.pop(0)
    except BaseException:
        # As on Cloudflare: the object is reset when its block_concurrency_while callback fails.
        _held.clear()
        _object = None
        raise
    result = invoke(obj, event)
    if hasattr(result, "__await__"):
        result = await result
    return result


def _object_fetch(obj, request):
    fetch = getattr(obj, "fetch", None)
    if not callable(fetch):
        raise TypeError(f"Durable Object {type(obj).__name__} has no fetch method (stub.fetch calls it)")
    return fetch(request)


def _object_method(obj, event):
    name, args = event
    method = getattr(obj, name, None) if not name.startswith("_") else None
    if not callable(method):
        raise TypeError(f"Durable Object {type(obj).__name__} has no method {name!r}")
    args, kwargs = _loads(args)
    return method(*args, **(kwargs or {}))


def _on_call(rid, chain, kind, *target):
    if _object_spec is None:
        _outbox.append(("error", rid, "exception", "TypeError: this instance is not a Durable Object\n"))
        return
    # The caller's chain, then this object.
    token = _chain.set(tuple(chain) + (_object_spec["key"],))
    try:
        if kind == "fetch":
            _run_handler(rid, _after_held(_object_fetch), Request._from_host(*target), _respond)
        else:
            _run_handler(rid, _after_held(_object_method), target, _return)
    finally:
        _chain.reset(token)


def _return(rid, value):
    from workers._durable import _encode_result

    try:
        blob = _encode_result(value)
    except Exception as exc:
        _fail(rid, exc)
        return
    _outbox.append(("return", rid, blob))
    _release(rid)


def start_call(binding, id, name, target):
    """Call a Durable Object (``target``: ``("method", name, args)`` or ``("fetch", method, url, headers,
    body)``); returns a future for the answer: ``("value", marshal bytes)`` or ``("response", status, headers,
    body)``."""
    global _next_op
    if not is_reactor_loop(asyncio.get_running_loop()):
        raise RuntimeError("Durable Object stubs work only in a worker's handlers under `pyworkers serve`")
    op = _next_op
    _next_op += 1
    future = _loop.create_future()
    _ops[op] = future
    _outbox.append(("call", op, binding, id, name, _chain.get(), *target))
    return future


def _on_returned(op, ok, value):
    future = _ops.pop(op, None)
    if future is None or future.done():
        return
    if ok:
        future.set_result(value)
    else:
        from workers._durable import _remote_error

        future.set_exception(_remote_error(*value))


def hold(awaitable):
    """``ctx.block_concurrency_while``: the object's next events wait for ``awaitable``; returns a future of it."""
    if not hasattr(awaitable, "__await__"):
        future = _loop.create_future()
        future.set_result(awaitable)
        return future
    task = asyncio.ensure_future(awaitable)
    _held.append(task)
    return task


def spawn(awaitable):
    """A Durable Object's ``ctx.wait_until``: run ``awaitable`` in the background."""
    _wait_until(None, awaitable)


# --- outbound fetch (workers.fetch) ---------------------------------------------------------------------------


def is_reactor_loop(loop):
    """Whether ``loop`` is this instance's reactor loop (so outbound calls can go through the outbox)."""
    return loop is _loop and loop is not None


def start_fetch(method, url, headers, body, timeout=None, redirect="follow"):
    """Ask the host for an outbound request; returns a future for ``(status, headers, body, url)``.

    ``timeout``: seconds (held to the server's own deadline), or None for the server's; ``redirect``: ``"follow"``
    (the host follows them) or ``"manual"`` (a redirect is the answer)."""
    global _next_op
    op = _next_op
    _next_op += 1
    future = _loop.create_future()
    _ops[op] = future
    event = ("fetch", op, method, url, headers, body)
    if timeout is not None or redirect != "follow":
        event += (timeout, redirect)
    _outbox.append(event)
    return future


def _on_result(op, ok, value):
    future = _ops.pop(op, None)
    if future is None or future.done():
        return  # its request was cancelled meanwhile
    if ok:
        future.set_result(value)
    else:
        future.set_exception(hostcall.error(*value))
