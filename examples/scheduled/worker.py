"""A worker with a cron trigger (`wrangler.toml`: every 5 minutes) and a `fetch` handler that reports the runs.

    pyworkers serve examples/scheduled --test-scheduled --instances 1
    curl 'localhost:8787/__scheduled?cron=*/5+*+*+*+*'   # Ran scheduled event
    curl localhost:8787/                                 # {"runs": [{"cron": "*/5 * * * *", ...}]}

Runs are kept in a module-level list, so they are per instance (hence `--instances 1` above).
"""

from workers import Response, WorkerEntrypoint

runs = []


class Default(WorkerEntrypoint):
    async def scheduled(self, controller, env, ctx):
        runs.append({"cron": controller.cron, "scheduled_time": controller.scheduled_time})

    async def fetch(self, request):
        return Response.json({"runs": runs})
