# Echoes what it can see of a request, per path, to test the SDK's message types.
import json

from workers import FormData, Headers, Request, Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("8787", 1)[1].split("?")[0]
        if path == "/text":
            return Response(await request.text())
        if path == "/json":
            data = await request.json()
            return Response.json({"got": data, "method": request.method}, status=201, headers={"x-a": "1"})
        if path == "/bytes":
            data = await request.bytes()
            return Response(bytes(reversed(data)), headers={"content-type": "application/octet-stream"})
        if path == "/form":
            form = await request.form_data()
            out = []
            for name, value in form.items():
                if isinstance(value, str):
                    out.append([name, value])
                else:
                    out.append([name, value.name, value.content_type, (await value.bytes()).hex()])
            return Response.json(out)
        if path == "/headers":
            h = request.headers
            return Response.json(
                {
                    "get": h.get("X-Multi"),
                    "getall": h.getall("x-multi"),
                    "in": ["X-MULTI" in h, "absent" in h],
                    "items": [list(pair) for pair in h.items()],
                }
            )
        if path == "/clone":
            copy = request.clone()
            assert request.js_object is request
            return Response(f"{copy.method} {await copy.text()}")
        if path == "/redirect":
            return Response.redirect("https://example.invalid/elsewhere", 307)
        if path == "/redirect-default":
            return Response.redirect("/there")
        if path == "/html":
            return Response("<b>é</b>", headers={"Content-Type": "text/html"})
        if path == "/bytearray":
            return Response(bytearray(b"\x00\xff"), status=404)
        if path == "/memoryview":
            return Response(memoryview(b"mv"))
        if path == "/empty":
            return Response(status=204)
        if path == "/repeated":
            h = Headers([("Set-Cookie", "a=1"), ("set-cookie", "b=2")])
            return Response("", headers=h)
        if path == "/unicode":
            return Response(request.url + " " + await request.text())
        return Response("not found", status=404)
