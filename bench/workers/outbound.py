"""The outbound benchmark's worker: every request awaits one upstream fetch (`--var UPSTREAM=http://...`).

bench/run.sh points UPSTREAM at bench/upstream/slow.py, which answers after 100 ms, so the total time for 64
concurrent requests shows whether awaiting an upstream holds an instance or lets it serve other requests meanwhile.
"""

from workers import Response, WorkerEntrypoint, fetch


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        upstream = await fetch(self.env.UPSTREAM)
        return Response(await upstream.text(), status=upstream.status)
