from workers import Response, WorkerEntrypoint


class Base(WorkerEntrypoint):
    pass


class Default(Base):
    def fetch(self, request):
        return Response(f"sync class {request.method} {self.env.GREETING}")

    def scheduled(self, controller, env, ctx):
        print(f"scheduled {controller.cron} {env.GREETING}")
