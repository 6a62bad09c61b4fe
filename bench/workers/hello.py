"""The benchmark's hello worker: the smallest fetch handler, the same one examples/hello describes.

The componentize-py peer (bench/peer/hello.py) answers the same body, so both servers do the same work per request.
"""

from workers import Response, WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("hello world")
