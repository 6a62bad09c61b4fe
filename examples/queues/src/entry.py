"""A producer and a consumer of the `jobs` queue, recording every delivery in D1.

- `POST /send` with a JSON body → `env.JOBS.send(body)`;
- `POST /send-batch` with a JSON list → `env.JOBS.send_batch([{"body": b}, ...])`;
- `GET /processed` → every delivery so far: queue, body, size of its batch, attempt, outcome.

A message body is a JSON object; the consumer reads these keys:
- `"fail": N` → `message.retry()` on its first N attempts, then `message.ack()`;
- `"all": "retry-once"` → `batch.retry_all()` the first time, `batch.ack_all()` after;
- `"raise": true` → the handler raises on the first attempt (so every message not acked is retried)."""

import json

from workers import Response, WorkerEntrypoint

SCHEMA = """CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, body TEXT NOT NULL,
    batch_size INTEGER NOT NULL, attempt INTEGER NOT NULL, outcome TEXT NOT NULL)"""


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("?")[0].split("/", 3)[-1]
        if request.method == "POST" and path == "send":
            await self.env.JOBS.send(json.loads(await request.text()))
            return Response.json({"queued": 1}, status=202)
        if request.method == "POST" and path == "send-batch":
            bodies = json.loads(await request.text())
            await self.env.JOBS.send_batch([{"body": b} for b in bodies])
            return Response.json({"queued": len(bodies)}, status=202)
        if path == "processed":
            await self.env.DB.exec(SCHEMA)
            rows = (await self.env.DB.prepare("SELECT * FROM deliveries ORDER BY seq").all()).results
            for row in rows:
                row["body"] = json.loads(row["body"])
            return Response.json({"deliveries": rows})
        return Response("POST /send, POST /send-batch or GET /processed\n", status=404)

    async def queue(self, batch):
        db = self.env.DB
        await db.exec(SCHEMA)
        size = len(batch.messages)
        outcomes = {}
        if batch.queue == "jobs-dlq":
            batch.ack_all()
            outcomes = {id(m): "dead" for m in batch.messages}
        elif any(m.body.get("all") == "retry-once" for m in batch.messages):
            first = any(m.attempts == 1 for m in batch.messages if m.body.get("all"))
            batch.retry_all() if first else batch.ack_all()
            outcomes = {id(m): "retry-all" if first else "ack-all" for m in batch.messages}
        else:
            for m in batch.messages:
                if m.attempts <= m.body.get("fail", 0):
                    m.retry()
                    outcomes[id(m)] = "retry"
                elif m.body.get("raise") and m.attempts == 1:
                    outcomes[id(m)] = "raised"
                else:
                    m.ack()
                    outcomes[id(m)] = "ack"
        await db.batch([
            db.prepare("INSERT INTO deliveries (queue, body, batch_size, attempt, outcome) VALUES (?, ?, ?, ?, ?)")
            .bind(batch.queue, json.dumps(m.body, sort_keys=True), size, m.attempts, outcomes[id(m)])
            for m in batch.messages
        ])
        if "raised" in outcomes.values():
            raise RuntimeError("a message asked the handler to raise")
