"""A small JSON API: notes you can list, create, read and delete, served by `pyworkers serve examples/json-api`.

    curl localhost:8787/                                   # {"api": "notes", "version": "1", "routes": [...]}
    curl -X POST localhost:8787/notes -d '{"text": "hi"}'  # 201, {"id": 1, "text": "hi"}, location: /notes/1
    curl localhost:8787/notes/1                            # 200, the note; 404 for an unknown id
    curl -X DELETE localhost:8787/notes/1                  # 200, the deleted note
    curl -X PUT localhost:8787/notes                       # 405, with an `allow` header
    curl -H 'x-tag: a' -H 'x-tag: b' localhost:8787/tags   # the repeated header's values, and sent back repeated

Routing is on method and path; bodies are JSON in (`await request.json()`) and out (`Response.json`). The vars
in `wrangler.jsonc` reach the handler as `self.env`. Notes live in a module-level dict, so they are per instance
(run with `--instances 1` to see one list), as state in a Cloudflare isolate is.
"""

import json
from urllib.parse import urlsplit

from workers import Response, WorkerEntrypoint

notes = {}
next_id = 1


def error(status, message, headers=None):
    return Response.json({"error": message}, status=status, headers=headers)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = urlsplit(request.url).path.rstrip("/") or "/"
        parts = path.strip("/").split("/")
        route = ROUTES.get(path) or (ROUTES.get("/notes/{id}") if len(parts) == 2 and parts[0] == "notes" else None)
        if route is None:
            return error(404, f"no route for {path}")
        handler = route.get(request.method)
        if handler is None:
            allowed = ", ".join(sorted(route))
            return error(405, f"{request.method} is not allowed on {path}", headers={"allow": allowed})
        response = await handler(self, request, *parts[1:])
        response.headers.set("x-api-version", str(self.env.API_VERSION))
        return response

    async def index(self, request):
        return Response.json(
            {"api": self.env.API_NAME, "version": self.env.API_VERSION, "routes": sorted(ROUTES)}
        )

    async def list_notes(self, request):
        return Response.json({"notes": list(notes.values())})

    async def create_note(self, request):
        global next_id
        try:
            data = await request.json()
        except (ValueError, UnicodeDecodeError):
            return error(400, "the body must be JSON")
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            return error(400, 'expected {"text": "..."}')
        if len(notes) >= int(self.env.MAX_NOTES):
            return error(409, f"at most {self.env.MAX_NOTES} notes")
        note = {"id": next_id, "text": data["text"]}
        notes[next_id] = note
        next_id += 1
        return Response.json(note, status=201, headers={"location": f"/notes/{note['id']}"})

    async def get_note(self, request, id):
        note = notes.get(int(id)) if id.isdigit() else None
        if note is None:
            return error(404, f"no note {id}")
        return Response.json(note)

    async def delete_note(self, request, id):
        note = notes.pop(int(id), None) if id.isdigit() else None
        if note is None:
            return error(404, f"no note {id}")
        return Response.json(note)

    async def tags(self, request):
        tags = request.headers.getall("x-tag")
        headers = [("x-tag", tag) for tag in tags] + [("content-type", "application/json")]
        return Response(json.dumps({"tags": tags}), headers=headers)


ROUTES = {
    "/": {"GET": Default.index},
    "/notes": {"GET": Default.list_notes, "POST": Default.create_note},
    "/notes/{id}": {"GET": Default.get_note, "DELETE": Default.delete_note},
    "/tags": {"GET": Default.tags},
}
