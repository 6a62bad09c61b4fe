"""Serve a WSGI (PEP 3333) application (Flask, Django, ...) from a worker.

    from workers import WorkerEntrypoint, wsgi

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            return await wsgi.fetch(app, request, self.env)

or ``Default = wsgi.entrypoint(app)``. The environ carries the worker's vars as ``environ["env"]`` (and, named as
PEP 3333 asks of server extensions, ``environ["workers.env"]``). The app runs synchronously inside the handler.
"""

import io
import sys
from urllib.parse import unquote_to_bytes, urlsplit

from ._entrypoint import WorkerEntrypoint
from ._messages import Response

__all__ = ["entrypoint", "fetch"]

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def environ_for(request, env):
    """The PEP 3333 environ for ``request``."""
    parts = urlsplit(request.url)
    environ = {
        "REQUEST_METHOD": request.method,
        "SCRIPT_NAME": "",
        # PEP 3333: PATH_INFO is the decoded path as bytes, carried in a latin-1 str.
        "PATH_INFO": unquote_to_bytes(parts.path or "/").decode("latin-1"),
        "QUERY_STRING": parts.query,
        "SERVER_NAME": parts.hostname or "",
        "SERVER_PORT": str(parts.port) if parts.port else _DEFAULT_PORTS.get(parts.scheme, "80"),
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": parts.scheme,
        "wsgi.input": io.BytesIO(request._body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "env": env,
        "workers.env": env,
    }
    for name, value in request.headers._list:
        if name == "content-type":
            environ["CONTENT_TYPE"] = value
        elif name == "content-length":
            environ["CONTENT_LENGTH"] = value
        else:
            key = "HTTP_" + name.upper().replace("-", "_")
            environ[key] = f"{environ[key]},{value}" if key in environ else value
    if "CONTENT_LENGTH" not in environ and request._body:
        environ["CONTENT_LENGTH"] = str(len(request._body))
    return environ


async def fetch(app, request, env, ctx=None):
    """Run ``request`` through the WSGI ``app``; returns its ``Response``."""
    started = []
    chunks = []

    def start_response(status, headers, exc_info=None):
        if exc_info is not None:
            try:
                if started:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif started:
            raise AssertionError("start_response called twice without exc_info")
        started[:] = [status, headers]
        return chunks.append

    result = app(environ_for(request, env), start_response)
    try:
        for chunk in result:
            if chunk:
                chunks.append(bytes(chunk))
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    if not started:
        raise RuntimeError("WSGI app returned without calling start_response")
    status, headers = started
    code = int(status.split(" ", 1)[0])
    return Response(b"".join(chunks), code, [(name, value) for name, value in headers])


def entrypoint(app):
    """A ``WorkerEntrypoint`` subclass whose ``fetch`` serves ``app``: ``Default = wsgi.entrypoint(app)``."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            return await fetch(app, request, self.env, self.ctx)

    Default.__qualname__ = "Default"
    return Default
