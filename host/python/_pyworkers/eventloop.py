"""An asyncio event loop that needs no sockets.

CPython's default Unix loop wakes itself through a ``socketpair()``, which does not exist here (there is no
network stack). This loop has no file descriptors to watch, so it waits by sleeping until the next timer is due.
It is installed lazily: asyncio is not imported until user code imports it.
"""

_PATCHED_MODULE = "asyncio.unix_events"


class _NoSelector:
    """Stands in for a selector that never has file descriptors registered."""

    def select(self, timeout=None):
        if timeout:
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

        def __init__(self):
            super().__init__(_NoSelector())

        def _make_self_pipe(self):
            pass

        def _close_self_pipe(self):
            pass

        def _write_to_self(self):
            pass

        def _process_self_data(self, data):
            pass

    return WorkerEventLoop


def _patch(unix_events):
    import asyncio.selector_events as selector_events

    loop_class = _make_loop_class(selector_events)
    unix_events.SelectorEventLoop = loop_class
    unix_events.EventLoop = loop_class
    for name in ("_UnixDefaultEventLoopPolicy", "DefaultEventLoopPolicy", "_DefaultEventLoopPolicy"):
        policy = getattr(unix_events, name, None)
        if policy is not None:
            policy._loop_factory = loop_class


def install():
    from . import importhook

    importhook.after_import(_PATCHED_MODULE, _patch)
