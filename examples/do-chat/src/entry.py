"""Chat rooms, one Durable Object each.

- ``POST /rooms/NAME/messages`` with ``{"author": ..., "text": ...}`` appends a message (kept in the room's SQL
  storage, so it survives restarts);
- ``GET /rooms/NAME/messages`` lists them (``?since=ID`` for the newer ones only);
- ``POST /rooms/NAME/visit`` counts a visit in the room's memory: the count lives as long as the room's instance,
  and starts again from 1 after a restart or an eviction, while the messages stay;
- ``GET /rooms/NAME`` is answered by the room's own ``fetch``.
"""

import json
from urllib.parse import parse_qs, urlsplit

from workers import DurableObject, Response, WorkerEntrypoint


class ChatRoom(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.visits = 0
        self.sql = ctx.storage.sql
        self.sql.exec(
            """CREATE TABLE IF NOT EXISTS messages (
                   id INTEGER PRIMARY KEY AUTOINCREMENT,
                   author TEXT NOT NULL,
                   text TEXT NOT NULL,
                   at REAL NOT NULL DEFAULT (unixepoch('subsec'))
               )"""
        )

    async def post(self, author, text):
        if not text:
            raise ValueError("a message needs some text")
        row = self.sql.exec(
            "INSERT INTO messages (author, text) VALUES (?, ?) RETURNING id, author, text", author, text
        ).one()
        return row

    def messages(self, since=0):
        return self.sql.exec(
            "SELECT id, author, text FROM messages WHERE id > ? ORDER BY id", since
        ).to_array()

    def visit(self):
        self.visits += 1
        return self.visits

    async def fetch(self, request):
        count = self.sql.exec("SELECT count(*) AS n FROM messages").one()["n"]
        return Response.json({"room": self.ctx.id.name, "id": str(self.ctx.id), "messages": count, "visits": self.visits})


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlsplit(request.url)
        parts = url.path.strip("/").split("/")
        if len(parts) < 2 or parts[0] != "rooms" or not parts[1]:
            return Response("try /rooms/NAME/messages", status=404)
        room = self.env.ROOMS.get_by_name(parts[1])
        action = parts[2] if len(parts) > 2 else ""
        if action == "messages" and request.method == "POST":
            body = await request.json()
            try:
                message = await room.post(body.get("author", "anonymous"), body.get("text", ""))
            except ValueError as e:
                return Response.json({"error": str(e)}, status=400)
            return Response.json(message, status=201)
        if action == "messages":
            since = int(parse_qs(url.query).get("since", ["0"])[0])
            return Response.json({"messages": await room.messages(since)})
        if action == "visit" and request.method == "POST":
            return Response.json({"visits": await room.visit()})
        if action == "":
            return await room.fetch(request)
        return Response("not found", status=404)
