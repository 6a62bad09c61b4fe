"""A counter per path, kept in KV: `GET /NAME` counts one more visit; `GET /NAME?peek` only reads it.

`/_list?prefix=P` lists the counters, `/_meta/NAME` shows the metadata the last visit wrote, and `DELETE /NAME`
forgets one. (KV is not transactional: two visits at once may count one.)"""

from urllib.parse import parse_qs, urlsplit

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlsplit(request.url)
        query = parse_qs(url.query, keep_blank_values=True)
        kv = self.env.COUNTS
        name = url.path.lstrip("/") or "home"
        if name == "_list":
            listing = await kv.list(prefix=query.get("prefix", [None])[0], limit=int(query.get("limit", ["1000"])[0]))
            return Response.json({"keys": listing.keys, "list_complete": listing.list_complete, "cursor": listing.cursor})
        if name.startswith("_meta/"):
            return Response.json(await kv.get_with_metadata(name[len("_meta/"):], type="json"))
        if request.method == "DELETE":
            await kv.delete(name)
            return Response("deleted")
        count = int(await kv.get(name) or 0)
        if "peek" not in query:
            count += 1
            await kv.put(name, str(count), metadata={"path": url.path})
        return Response.json({"name": name, "count": count})
