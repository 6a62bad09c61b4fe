from workers import Response, handler


@handler
def on_fetch(request, env):
    return Response("two " + env.GREETING)
