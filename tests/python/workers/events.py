import asyncio

from workers import WorkerEntrypoint

seen = []


class Default(WorkerEntrypoint):
    async def scheduled(self, controller, env, ctx):
        await asyncio.sleep(0)
        seen.append(("scheduled", controller.cron, controller.scheduled_time, controller.scheduledTime, env.X))

    def queue(self, batch, env):
        for message in batch.messages:
            when = message.timestamp.isoformat()
            seen.append(("queue", batch.queue, message.id, message.body, message.attempts, when))
            message.ack()
        batch.retry_all()
        if batch.queue == "bad":
            raise RuntimeError("queue failure")
