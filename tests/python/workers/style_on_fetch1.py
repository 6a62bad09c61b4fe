from workers import Response


async def on_fetch(request):
    return Response("one " + request.url)
