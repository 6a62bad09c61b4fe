"""The worker's routes: path → handler."""

import sys
from urllib.parse import unquote, urlsplit

from workers import Response

from . import NAME
from .render import page, paragraph


def index(request):
    return page(NAME, [paragraph(f"GET {path}") for path in ("/", "/hello/NAME", "/modules")])


def hello(request, name):
    return page("hello", [paragraph(f"Hello, {name}!")])


def modules(request):
    ours = sorted(m for m in sys.modules if m in ("main", "app") or m.startswith("app."))
    return Response.json({"modules": ours})


def route(request):
    path = unquote(urlsplit(request.url).path)
    if path == "/":
        return index(request)
    if path.startswith("/hello/"):
        return hello(request, path.removeprefix("/hello/"))
    if path == "/modules":
        return modules(request)
    return Response("not found", status=404)
