"""The ``workers`` module: pyworkers' implementation of Cloudflare's Python Workers API.

    from workers import Response, WorkerEntrypoint

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            return Response("Hello")

``Request``, ``Response``, ``Headers``, ``FormData``, ``WorkerEntrypoint`` (``self.env``, ``self.ctx``), ``fetch``,
``DurableObject``, and ``asgi``/``wsgi`` adapters, with Cloudflare's names and behaviour wherever they mean something without
JavaScript. ``env`` is the running instance's vars.
"""

from ._bindings import D1Error, DurableObjectError, KVError
from ._durable import DurableObject, DurableObjectId, DurableObjectNamespace, DurableObjectState, DurableObjectStub
from ._entrypoint import Context, Env, Message, MessageBatch, ScheduledController, WorkerEntrypoint
from ._fetch import fetch
from ._formdata import Blob, File, FormData
from ._headers import Headers
from ._messages import FetchResponse, Request, Response

__all__ = [
    "Blob",
    "Context",
    "D1Error",
    "DurableObject",
    "DurableObjectError",
    "DurableObjectId",
    "DurableObjectNamespace",
    "DurableObjectState",
    "DurableObjectStub",
    "Env",
    "FetchResponse",
    "File",
    "FormData",
    "Headers",
    "KVError",
    "Message",
    "MessageBatch",
    "Request",
    "Response",
    "ScheduledController",
    "WorkerEntrypoint",
    "env",
    "fetch",
    "handler",
    "import_from_javascript",
]


def handler(fn):
    """Cloudflare's older SDK marks top-level handlers with ``@handler``; they are found by name, so this keeps
    ``fn`` as it is."""
    return fn


def import_from_javascript(name):
    """There is no JavaScript in pyworkers, so there is no JavaScript module to import."""
    raise ImportError(f"cannot import JavaScript module {name!r}: pyworkers runs Python without a JavaScript engine")


def __getattr__(name):
    if name == "env":
        from _pyworkers import entrypoint

        return entrypoint.env()
    raise AttributeError(f"module 'workers' has no attribute {name!r}")
