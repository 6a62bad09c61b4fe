"""One Durable Object RPC per request: ``GET /`` calls ``Counter.hit()`` on the object named "bench" (an in-memory
count, no storage), so the figure is the round trip worker → host → object → host → worker, nothing else.
``GET /?name=N`` spreads the calls over objects N."""

from workers import DurableObject, Response, WorkerEntrypoint


class Counter(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.hits = 0

    def hit(self):
        self.hits += 1
        return self.hits


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        name = request.url.partition("?name=")[2] or "bench"
        hits = await self.env.COUNTER.get_by_name(name).hit()
        return Response(str(hits))
