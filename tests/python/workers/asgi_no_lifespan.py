# An ASGI app without lifespan support, called the older way: `import asgi` and asgi.fetch in on_fetch.
import asgi


async def app(scope, receive, send):
    if scope["type"] != "http":
        raise ValueError("http only")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"plain " + str("state" in scope).encode()})


async def on_fetch(request, env):
    return await asgi.fetch(app, request.js_object, env)
