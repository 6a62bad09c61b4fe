# A hand-written ASGI 3 app with lifespan support, served through asgi.entrypoint.
from workers import asgi

started = []


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                started.append(1)
                scope["state"]["db"] = "connected"
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    assert scope["type"] == "http"
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    headers = [(b"content-type", b"text/plain"), (b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    text = (
        f"{scope['method']} {scope['path']} {scope['raw_path'].decode()} {scope['query_string'].decode()} "
        f"{scope['env'].NAME} {scope['state']['db']} {len(started)} "
        f"{[v.decode() for k, v in scope['headers'] if k == b'x-r']} {body.decode()}"
    )
    await send({"type": "http.response.body", "body": text.encode()[:5], "more_body": True})
    await send({"type": "http.response.body", "body": text.encode()[5:]})


Default = asgi.entrypoint(app)
