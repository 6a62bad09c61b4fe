from workers import Response, env as module_env, handler


@handler
def on_fetch(request, env):
    # `env` imported at module level (before configure) is the same live object the handler gets.
    assert module_env is env, (module_env, env)
    return Response("two " + env.GREETING)
