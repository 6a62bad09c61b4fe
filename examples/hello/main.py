"""The smallest Python Worker: answers every request with a greeting."""

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("hello world")
