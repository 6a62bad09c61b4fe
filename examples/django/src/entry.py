"""A one-file Django project: settings, URLs and views here, served by the WSGI adapter."""

import django
from django.conf import settings

settings.configure(
    DEBUG=False,
    SECRET_KEY="not-a-secret: this example has no sessions",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=["django.middleware.common.CommonMiddleware"],
    INSTALLED_APPS=[],
    DATABASES={},
    USE_TZ=True,
)
django.setup()

from django.http import JsonResponse
from django.urls import path
from django.core.wsgi import get_wsgi_application
from workers import WorkerEntrypoint, wsgi


def index(request):
    greeting = request.environ["workers.env"].GREETING
    return JsonResponse({"greeting": greeting, "django": django.get_version()})


def hello(request, name):
    return JsonResponse({"hello": name, "query": request.GET.get("q")})


urlpatterns = [path("", index), path("hello/<str:name>", hello)]

app = get_wsgi_application()


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await wsgi.fetch(app, request, self.env)
