from workers import Response, WorkerEntrypoint


class MyWorker(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("only subclass", headers={"x-env": self.env["GREETING"]})
