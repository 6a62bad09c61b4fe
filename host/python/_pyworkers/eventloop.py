"""An asyncio event loop that needs no sockets.

CPython's default Unix loop wakes itself through a ``socketpair()``, which does not exist here (there is no
network stack). This loop has no file descriptors to watch, so it waits by sleeping until the next timer is due.
It is installed lazily: asyncio is not imported until user code imports it.

Under ``serve`` the host is the outer event loop and Python must never block: the reactor in
``_pyworkers.entrypoint`` makes its loop with ``loop_class()(blocking=False)``, whose selector returns at once.
"""

_PATCHED_MODULE = "asyncio.unix_events"


class _NoSelector:
    """Stands in for a selector that never has file descriptors registered."""

    def __init__(self, blocking=True):
        self._blocking = blocking

    def select(self, timeout=None):
        # Non-blocking: the host waits instead, for the timer the reactor reports.
        if timeout and self._blocking:
            import time

            time.sleep(timeout)
        return []

    def register(self, fileobj, events, data=None):
        raise NotImplementedError("pyworkers' event loop cannot watch file descriptors")

    def unregister(self, fileobj):
        raise KeyError(fileobj)

    def modify(self, fileobj, events, data=None):
        raise KeyError(fileobj)

    def get_key(self, fileobj):
        raise KeyError(fileobj)

    def get_map(self):
        return {}

    def close(self):
        pass


def _make_loop_class(selector_events):
    class WorkerEventLoop(selector_events.BaseSelectorEventLoop):
        """Selector loop without the self-pipe: nothing but this thread can schedule work."""

        def __init__(self, blocking=True):
            super().__init__(_NoSelector(blocking))

        def _make_self_pipe(self):
            pass

        def _close_self_pipe(self):
            pass

        def _write_to_self(self):
            pass

        def _process_self_data(self, data):
            pass

    return WorkerEventLoop


_loop_class = None


def loop_class():
    """The socket-free loop class (``WorkerEventLoop(blocking=True)``); imports asyncio on first use."""
    global _loop_class
    if _loop_class is None:
        import asyncio.selector_events as selector_events

        # Importing asyncio may have run _patch, which made the class already.
        if _loop_class is None:
            _loop_class = _make_loop_class(selector_events)
    return _loop_class


def _patch(unix_events):
    loop_class_ = loop_class()
    unix_events.SelectorEventLoop = loop_class_
    unix_events.EventLoop = loop_class_
    for name in ("_UnixDefaultEventLoopPolicy", "DefaultEventLoopPolicy", "_DefaultEventLoopPolicy"):
        policy = getattr(unix_events, name, None)
        if policy is not None:
            policy._loop_factory = loop_class_


def install():
    from . import importhook

    importhook.after_import(_PATCHED_MODULE, _patch)
