"""Serve an ASGI 3 application (FastAPI, Starlette, ...) from a worker.

    from workers import WorkerEntrypoint, asgi

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            return await asgi.fetch(app, request, self.env)

or ``Default = asgi.entrypoint(app)``. The HTTP scope carries the worker's vars as ``scope["env"]``. If the app
speaks the lifespan protocol, its startup runs once per instance, before its first request; there is no shutdown
(an instance is simply dropped).
"""

from urllib.parse import unquote, urlsplit

from ._entrypoint import WorkerEntrypoint
from ._messages import Response

__all__ = ["entrypoint", "fetch"]

_ASGI = {"version": "3.0", "spec_version": "2.4"}
_DEFAULT_PORTS = {"http": 80, "https": 443}

# app → the task running its lifespan startup, whose result is the state it left (None: no lifespan support).
_lifespans = {}


async def fetch(app, request, env, ctx=None):
    """Run ``request`` through the ASGI ``app``; returns the ``Response`` it sent."""
    import asyncio

    startup = _lifespans.get(app)
    if startup is None:
        # Requests that arrive while it runs wait for the same startup.
        startup = _lifespans[app] = asyncio.ensure_future(_startup(app))
    state = await startup
    parts = urlsplit(request.url)
    raw_path = parts.path or "/"
    scope = {
        "type": "http",
        "asgi": _ASGI,
        "http_version": "1.1",
        "method": request.method,
        "scheme": parts.scheme,
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("latin-1", "replace"),
        "query_string": parts.query.encode("latin-1", "replace"),
        "root_path": "",
        "headers": [(name.encode("latin-1"), value.encode("latin-1")) for name, value in request.headers._list],
        "client": None,
        "server": (parts.hostname or "", parts.port or _DEFAULT_PORTS.get(parts.scheme, 80)),
        "env": env,
    }
    if state is not None:
        scope["state"] = dict(state)

    body_sent = False
    finished = asyncio.Event()

    async def receive():
        nonlocal body_sent
        if not body_sent:
            body_sent = True
            return {"type": "http.request", "body": request._body, "more_body": False}
        # The whole body was delivered; the next thing an app can learn is that the exchange is over.
        await finished.wait()
        return {"type": "http.disconnect"}

    status = None
    headers = []
    chunks = []

    async def send(message):
        nonlocal status
        kind = message["type"]
        if kind == "http.response.start":
            if status is not None:
                raise RuntimeError("ASGI app sent http.response.start twice")
            status = message["status"]
            headers.extend(
                (_text(name).lower(), _text(value)) for name, value in message.get("headers", ())
            )
        elif kind == "http.response.body":
            if status is None:
                raise RuntimeError("ASGI app sent http.response.body before http.response.start")
            chunks.append(bytes(message.get("body", b"")))
            if not message.get("more_body", False):
                finished.set()
        else:
            raise RuntimeError(f"ASGI app sent an unexpected message type {kind!r}")

    try:
        await app(scope, receive, send)
    finally:
        finished.set()
    if status is None:
        raise RuntimeError("ASGI app returned without sending a response")
    return Response(b"".join(chunks), status, headers)


def _text(value):
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else str(value)


async def _startup(app):
    """Run the app's lifespan startup; its state, or None if the app does not do lifespan."""
    import asyncio

    loop = asyncio.get_running_loop()
    state = {}
    to_app = asyncio.Queue()
    from_app = loop.create_future()

    async def receive():
        return await to_app.get()

    async def send(message):
        if not from_app.done():
            from_app.set_result(message)

    async def run():
        try:
            await app({"type": "lifespan", "asgi": _ASGI, "state": state}, receive, send)
        except BaseException as exc:
            # An app without lifespan support raises on the scope type (the ASGI spec says to carry on).
            if not from_app.done():
                from_app.set_exception(exc)
            return
        if not from_app.done():
            from_app.set_result(None)

    to_app.put_nowait({"type": "lifespan.startup"})
    # The task lives on, awaiting a shutdown that never comes: keep a reference so it is not collected.
    _tasks.add(loop.create_task(run()))
    try:
        message = await from_app
    except Exception:
        return None
    if message is None:
        return None
    if message["type"] == "lifespan.startup.failed":
        raise RuntimeError(f"ASGI lifespan startup failed: {message.get('message', '')}")
    return state


_tasks = set()


def entrypoint(app):
    """A ``WorkerEntrypoint`` subclass whose ``fetch`` serves ``app``: ``Default = asgi.entrypoint(app)``."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            return await fetch(app, request, self.env, self.ctx)

    Default.__qualname__ = "Default"
    return Default
