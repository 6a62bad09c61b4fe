import asyncio
import sys

from workers import Response


def helper(n):
    raise ValueError(f"bad value {n}")


async def on_fetch(request):
    if request.url.endswith("/sync-raise"):
        helper(1)
    if request.url.endswith("/async-raise"):
        await asyncio.sleep(0)
        helper(2)
    if request.url.endswith("/exit"):
        sys.exit(3)
    if request.url.endswith("/async-exit"):
        await asyncio.sleep(0)
        sys.exit(4)
    if request.url.endswith("/not-a-response"):
        return "just a string"
    return Response("fine")
