"""The usual Python HTTP clients, unmodified, calling another service. There are no sockets in a worker: each
client's transport is the host's, which allows only the hosts it is told to (and applies its timeouts and limits):

    pyworkers serve examples/http-clients --var UPSTREAM=http://127.0.0.1:9000 --allow-host 127.0.0.1
    curl 'localhost:8787/requests?path=/echo'        # GET and a JSON POST with requests
    curl 'localhost:8787/httpx?path=/echo'           # the same with httpx.Client
    curl 'localhost:8787/httpx-async?path=/echo'     # httpx.AsyncClient: awaits without blocking the instance
    curl 'localhost:8787/urllib3?path=/echo'         # urllib3.PoolManager directly

Each answers what the client saw: status, the upstream's `x-multi` headers (repeated), its JSON, the redirects
the client followed itself and the final URL. `&timeout=SECONDS` sets the client's timeout. A failure (a host the
server does not allow, a timeout) is a 502 naming the client's exception and its message, which for a refused host
names the flag that allows it (`--allow-host`).
"""

from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import requests
import urllib3
from workers import Response, WorkerEntrypoint

pool = urllib3.PoolManager()


def with_requests(url, timeout):
    with requests.Session() as session:
        got = session.get(url, timeout=timeout)
        posted = session.post(url, json={"client": "requests"}, headers={"x-from": "requests"}, timeout=timeout)
    return {
        "status": got.status_code,
        "multi": got.raw.headers.getlist("x-multi"),
        "get": got.json(),
        "post": posted.json(),
        "history": [r.status_code for r in got.history],
        "url": urljoin(url, got.url),  # urllib3 reports the path it asked the pool for
    }


def _httpx_summary(got, posted):
    """What the sync and async httpx clients saw, in the shape every client's route answers with."""
    return {
        "status": got.status_code,
        "multi": got.headers.get_list("x-multi"),
        "get": got.json(),
        "post": posted.json(),
        "history": [r.status_code for r in got.history],
        "url": str(got.url),
    }


def with_httpx(url, timeout):
    with httpx.Client(timeout=timeout, follow_redirects=True) as client:
        got = client.get(url)
        posted = client.post(url, json={"client": "httpx"}, headers={"x-from": "httpx"})
    return _httpx_summary(got, posted)


async def with_httpx_async(url, timeout):
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
        got = await client.get(url)
        posted = await client.post(url, json={"client": "httpx-async"}, headers={"x-from": "httpx-async"})
    return _httpx_summary(got, posted)


def with_urllib3(url, timeout):
    # Redirects followed (by urllib3), nothing retried.
    retries = urllib3.Retry(total=None, connect=0, read=0, status=0, other=0, redirect=5)
    got = pool.request("GET", url, timeout=timeout, retries=retries)
    posted = pool.request("POST", url, json={"client": "urllib3"}, headers={"x-from": "urllib3"}, timeout=timeout,
                          retries=retries)
    return {
        "status": got.status,
        "multi": got.headers.getlist("x-multi"),
        "get": got.json(),
        "post": posted.json(),
        "history": [h.status for h in got.retries.history] if got.retries else [],
        "url": urljoin(url, got.url),  # urllib3 reports the path it asked the pool for
    }


CLIENTS = {"requests": with_requests, "httpx": with_httpx, "urllib3": with_urllib3}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlsplit(request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        target = self.env.UPSTREAM.rstrip("/") + query.get("path", "/")
        timeout = float(query.get("timeout", 10))
        client = url.path.strip("/")
        try:
            if client == "httpx-async":
                result = await with_httpx_async(target, timeout)
            elif client in CLIENTS:
                result = CLIENTS[client](target, timeout)
            else:
                return Response("try /requests, /httpx, /httpx-async or /urllib3 with ?path=/", status=404)
        except Exception as e:
            if isinstance(e, urllib3.exceptions.MaxRetryError) and e.reason is not None:
                e = e.reason  # what went wrong, rather than that urllib3 stopped retrying
            error = f"{type(e).__module__}.{type(e).__qualname__}"
            return Response.json({"error": error, "message": str(e)}, status=502)
        return Response.json({"via": client, **result})
