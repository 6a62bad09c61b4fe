"""A worker split over several modules: this entry module, and the `app` package beside it (`app/routes.py`
routes, `app/render.py` formats). Everything in the worker's directory is part of the worker and importable.

    pyworkers serve examples/multi-module
    curl localhost:8787/            # <h1>multi-module</h1> ... listing the routes
    curl localhost:8787/hello/Ada   # <p>Hello, Ada!</p>
    curl localhost:8787/modules     # {"modules": ["app", "app.render", "app.routes", "main"]}
"""

from app.routes import route
from workers import WorkerEntrypoint


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return route(request)
