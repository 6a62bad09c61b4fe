"""A worker that calls another HTTP service, asynchronously with `workers.fetch` and synchronously with the
standard library's `urllib.request`. Both go out through the host, which allows only the hosts it is told to:

    pyworkers serve examples/fetch --var UPSTREAM=http://127.0.0.1:9000 --allow-host 127.0.0.1
    curl localhost:8787/async?path=/data   # {"via": "workers.fetch", "status": 200, "body": "..."}
    curl localhost:8787/sync?path=/data    # {"via": "urllib.request", "status": 200, "body": "..."}

Without `--allow-host` the host refuses the call: the worker sees a `PermissionError` (whose message names the
flag) and answers 403 with that message.
"""

import urllib.error
import urllib.request
from urllib.parse import parse_qs, quote, urlsplit

from workers import Response, WorkerEntrypoint, fetch


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlsplit(request.url)
        # The query holds the path decoded; a URL must carry it encoded (http.client refuses non-ASCII).
        path = quote(parse_qs(url.query).get("path", ["/"])[0])
        target = self.env.UPSTREAM.rstrip("/") + path
        try:
            if url.path == "/async":
                upstream = await fetch(target, headers={"x-from": "pyworkers"})
                result = {"status": upstream.status, "body": await upstream.text()}
                result["via"] = "workers.fetch"
            elif url.path == "/sync":
                result = fetch_sync(target)
            else:
                return Response("try /async?path=/ or /sync?path=/", status=404)
        except PermissionError as e:
            return Response(f"outbound request refused: {e}", status=403)
        return Response.json(result)


def fetch_sync(target):
    """A blocking call, as library code written for CPython makes it."""
    request = urllib.request.Request(target, headers={"x-from": "pyworkers"})
    try:
        with urllib.request.urlopen(request, timeout=10) as upstream:
            return {"via": "urllib.request", "status": upstream.status, "body": upstream.read().decode()}
    except urllib.error.HTTPError as e:
        return {"via": "urllib.request", "status": e.code, "body": e.read().decode()}
    except urllib.error.URLError as e:
        # urllib wraps what the connection raised; a refusal by the host stays a PermissionError.
        if isinstance(e.reason, PermissionError):
            raise e.reason from None
        raise
