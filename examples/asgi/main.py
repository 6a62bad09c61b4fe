"""A hand-written ASGI 3 application (no framework) served as a Python Worker through `workers.asgi`.

    pyworkers serve examples/asgi --var GREETING=hello
    curl localhost:8787/                   # hello from ASGI (started: true)
    curl -X POST localhost:8787/echo -d hi # hi, with content-type and x-path headers
    curl localhost:8787/nothing            # 404

The worker's vars reach the app as `scope["env"]`; the lifespan startup runs once per instance, before its first
request, and what it stores in `scope["state"]` every request sees.
"""

from workers import WorkerEntrypoint, asgi


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                scope["state"]["started"] = True
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    if scope["path"] == "/":
        greeting = scope["env"].get("GREETING", "hi")
        started = scope.get("state", {}).get("started", False)
        await respond(send, 200, f"{greeting} from ASGI (started: {str(started).lower()})".encode())
    elif scope["path"] == "/echo" and scope["method"] == "POST":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        content_type = dict(scope["headers"]).get(b"content-type", b"application/octet-stream")
        await respond(send, 200, body, [(b"content-type", content_type), (b"x-path", scope["raw_path"])])
    else:
        await respond(send, 404, b"not found: " + scope["raw_path"])


async def respond(send, status, body, headers=None):
    headers = headers or [(b"content-type", b"text/plain; charset=utf-8")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await asgi.fetch(app, request.js_object, self.env)
