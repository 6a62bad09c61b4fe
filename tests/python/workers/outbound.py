import asyncio

from workers import Request, Response, WorkerEntrypoint, fetch

log = []


async def later(tag):
    log.append(f"{tag} started")
    await asyncio.sleep(0.05)
    log.append(f"{tag} finished")


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("8787", 1)[1]
        if path == "/proxy":
            upstream = await fetch("https://upstream.example/data", method="POST", headers={"x-k": "v"}, body="ping")
            data = await upstream.json()
            return Response(f"{upstream.status} {upstream.ok} {upstream.url} {upstream.headers.get('x-up')} {data}")
        if path == "/request-object":
            upstream = await fetch(Request("http://upstream.example/r", method="DELETE"))
            return Response(await upstream.text(), status=upstream.status)
        if path == "/denied":
            try:
                await fetch("https://forbidden.example/")
            except PermissionError as e:
                return Response(f"denied: {e}", status=403)
        if path == "/timeout":
            await fetch("https://slow.example/")
        if path == "/sleep":
            await asyncio.sleep(0.2)
            return Response("slept")
        if path == "/wait-until":
            self.ctx.wait_until(later("bg"))
            log.append("handler returned")
            return Response("soon")
        if path == "/wait-until-task":
            # An already running task is only counted, not deferred.
            self.ctx.waitUntil(asyncio.ensure_future(later("task")))
            return Response("task")
        if path == "/wait-until-bad":
            self.ctx.wait_until(1)
        if path == "/log":
            return Response.json(log)
        return Response("?", status=404)
