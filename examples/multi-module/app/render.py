"""HTML rendering, kept apart from routing."""

from html import escape

from workers import Response


def paragraph(text):
    return f"<p>{escape(text)}</p>"


def page(title, body):
    html = f"<!doctype html><title>{escape(title)}</title><h1>{escape(title)}</h1>{''.join(body)}"
    return Response(html, headers={"content-type": "text/html; charset=utf-8"})
