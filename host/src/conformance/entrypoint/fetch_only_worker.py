"""The conformance suites' reference worker `fetch-only`: a function-style worker that defines `on_fetch` only,
answering every request with status 200 and the body `fetch-only`."""

from workers import Response


def on_fetch(request):
    return Response(b"fetch-only")
