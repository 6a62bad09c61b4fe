"""``import asgi``: the older spelling of ``from workers import asgi``, kept for workers written against it."""

from workers.asgi import entrypoint, fetch

__all__ = ["entrypoint", "fetch"]
