"""The conformance suites' reference worker `echo` (the contract is written down in
host/src/conformance/entrypoint/mod.rs and guest-adapters/README.md): it answers a request with the request,
raises when asked to, records its scheduled and queue events and shows them at /events. Deterministic, no
outbound calls, no bindings."""

import json
import os
import random
from urllib.parse import urlsplit

from workers import Response, WorkerEntrypoint

#: The scheduled and queue events this instance handled, in order: what GET /events answers.
EVENTS = []


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlsplit(request.url)
        if url.path.startswith("/status/"):
            return Response(b"", status=int(url.path[len("/status/"):]))
        if url.path == "/raise":
            raise RuntimeError(f"raised on purpose: {url.query}")
        if url.path == "/events":
            return Response(json.dumps(EVENTS).encode())
        headers = [("x-method", request.method), ("x-url", request.url)]
        headers.extend(request.headers.items())
        return Response(await request.bytes(), headers=headers)

    def scheduled(self, controller, env, ctx):
        EVENTS.append({"type": "scheduled", "cron": controller.cron, "scheduled_time": int(controller.scheduled_time)})

    async def queue(self, batch, env, ctx):
        messages = [
            {
                "id": message.id,
                "timestamp": round(message.timestamp.timestamp() * 1000),
                "body": message.body,
                "attempts": message.attempts,
            }
            for message in batch.messages
        ]
        EVENTS.append({"type": "queue", "queue": batch.queue, "messages": messages})


def draw(_=b""):
    """For the snapshot suite (the native subject calls it directly): 8 bytes from `random`, then 8 from
    `os.urandom`."""
    return random.getrandbits(64).to_bytes(8, "little") + os.urandom(8)
