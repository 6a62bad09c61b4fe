"""The dynamic half of the site. Static files under public/ are served without this worker, except where
`run_worker_first` sends a route here first (see wrangler.jsonc):

- `GET /api/status` → `{"ok": true, ...}`;
- `GET /api/asset?path=/docs/guide` → what `env.ASSETS.fetch` answers for that path (status, type, size);
- `/private/*` → the static file, through `env.ASSETS.fetch`, only with `Authorization: Bearer letmein`;
- anything else that matched no file → `env.ASSETS.fetch(request)`, i.e. the nearest 404.html (`not_found_handling`),
  marked `x-worker: miss` so you can tell the worker saw it."""

from urllib.parse import parse_qs, urlsplit

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlsplit(request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/api/status":
            return Response.json({"ok": True, "method": request.method, "path": url.path})
        if url.path == "/api/asset":
            path = query.get("path", "/")
            asset = await self.env.ASSETS.fetch(f"{url.scheme}://{url.netloc}{path}")
            body = await asset.text()
            return Response.json({
                "path": path,
                "status": asset.status,
                "content_type": asset.headers.get("content-type"),
                "bytes": len(body.encode()),
            })
        if url.path.startswith("/api/"):
            return Response.json({"error": f"no API at {url.path}"}, status=404)
        if url.path.startswith("/private/"):
            if request.headers.get("authorization") != "Bearer letmein":
                return Response.json({"error": "sign in first"}, status=401)
            response = await self.env.ASSETS.fetch(request)
            response.headers.set("x-worker", "private")
            return response
        response = await self.env.ASSETS.fetch(request)
        response.headers.set("x-worker", "miss")
        return response
