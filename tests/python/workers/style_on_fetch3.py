from workers import Response


async def on_fetch(request, env, ctx):
    assert callable(ctx.wait_until) and callable(ctx.waitUntil)
    ctx.pass_through_on_exception()
    return Response("three " + env.get("GREETING") + " " + str("GREETING" in env) + " " + str("NOPE" in env))


def on_queue(batch):
    print("queue", batch.queue, [m.body for m in batch.messages])
