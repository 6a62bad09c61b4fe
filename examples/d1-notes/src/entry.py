"""Notes in D1. Static files under public/ are served before this worker runs.

- `POST /api/notes` `{"text": ..., "tag": ...}` → the new note (201);
- `GET /api/notes[?tag=T]` → the notes; `GET /api/notes/ID` → one, or 404;
- `POST /api/notes/batch` `[{"text": ...}, ...]` → all inserted in one transaction, or none;
- `GET /api/sql?q=...` → the SQL error text, to show errors carry SQLite's message;
- `GET /api/home` → the front page through `env.ASSETS.fetch`."""

import json
from urllib.parse import parse_qs, urlsplit

from workers import D1Error, Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlsplit(request.url)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        db = self.env.DB
        parts = url.path.strip("/").split("/")
        if parts[:2] != ["api", "notes"]:
            if parts == ["api", "sql"]:
                try:
                    result = await db.prepare(query["q"]).all()
                    return Response.json({"results": result.results})
                except D1Error as e:
                    return Response.json({"error": str(e)}, status=400)
            if parts == ["api", "home"]:
                return await self.env.ASSETS.fetch(request.url.replace("/api/home", "/"))
            return Response("not found", status=404)
        if len(parts) == 2 and request.method == "POST":
            note = json.loads(await request.text())
            result = await db.prepare("INSERT INTO notes (text, tag) VALUES (?, ?)").bind(note["text"], note.get("tag")).run()
            row = await db.prepare("SELECT * FROM notes WHERE id = ?").bind(result.meta["last_row_id"]).first()
            return Response.json(row, status=201)
        if len(parts) == 2:
            if "tag" in query:
                result = await db.prepare("SELECT * FROM notes WHERE tag = ? ORDER BY id").bind(query["tag"]).all()
            else:
                result = await db.prepare("SELECT * FROM notes ORDER BY id").all()
            return Response.json({"notes": result.results, "success": result.success})
        if parts[2] == "batch":
            notes = json.loads(await request.text())
            statements = [db.prepare("INSERT INTO notes (text) VALUES (?)").bind(n["text"]) for n in notes]
            try:
                results = await db.batch(statements)
            except D1Error as e:
                return Response.json({"error": str(e)}, status=400)
            return Response.json({"inserted": len(results)})
        row = await db.prepare("SELECT * FROM notes WHERE id = ?").bind(int(parts[2])).first()
        return Response.json(row) if row else Response("no such note", status=404)
