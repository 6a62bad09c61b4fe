"""HTTP messages: ``Request`` and ``Response`` (and ``FetchResponse``, what ``fetch`` returns), with their bodies.

Bodies are whole ``bytes`` (the host delivers and collects them whole, within ``--max-body``); the body readers
are awaitable only to keep the Fetch API's shape, so handler code written for Cloudflare runs unchanged. Every
request passes through here, so the common cases (a ``str`` or ``bytes`` body, no headers) take no detours.
"""

from ._formdata import Blob, FormData, encode_multipart
from ._formdata import parse as _parse_form
from ._headers import Headers

_TEXT = "text/plain;charset=UTF-8"
_JSON = "application/json"
_REDIRECTS = frozenset((301, 302, 303, 307, 308))
_new_headers = Headers.__new__


def _encode_body(body, headers):
    """``body`` as bytes, setting the content type its kind implies (as the Fetch API does) unless one is given."""
    if body is None:
        return b""
    kind = type(body)
    if kind is bytes:
        return body
    if kind is str:
        if headers.get("content-type") is None:
            headers._list.append(("content-type", _TEXT))
        return body.encode()
    if kind is bytearray or kind is memoryview:
        return bytes(body)
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return _encode_body(str(body), headers)
    if isinstance(body, FormData):
        data, content_type = encode_multipart(body)
        if headers.get("content-type") is None:
            headers._list.append(("content-type", content_type))
        return data
    if isinstance(body, Blob):
        if body.content_type and headers.get("content-type") is None:
            headers._list.append(("content-type", body.content_type))
        return body._data
    raise TypeError(
        f"a body must be str, bytes, bytearray, memoryview, FormData or Blob, not {kind.__name__}"
        + (" (use Response.json(data) for JSON)" if isinstance(body, (dict, list)) else "")
    )


class _Body:
    """The Fetch API's body readers, over a body held whole."""

    __slots__ = ()

    async def bytes(self):
        return self._body

    async def array_buffer(self):
        return self._body

    async def text(self):
        return self._body.decode("utf-8", "replace")

    async def json(self):
        import json

        return json.loads(self._body)

    async def form_data(self):
        return _parse_form(self._body, self.headers.get("content-type"))

    async def blob(self):
        return Blob(self._body, self.headers.get("content-type") or "")

    @property
    def body_used(self):
        return False


class Request(_Body):
    """An HTTP request: the one a handler receives, or one built to pass to ``fetch``.

    ``Request(url_or_request, method=, headers=, body=)``. ``url`` is absolute; ``headers`` is a ``Headers``.
    """

    __slots__ = ("method", "url", "headers", "_body")

    def __init__(self, input, method=None, headers=None, body=None, **init):
        if isinstance(input, Request):
            self.method = (method or input.method).upper()
            self.url = input.url
            self.headers = Headers(input.headers if headers is None else headers)
            self._body = input._body if body is None else _encode_body(body, self.headers)
        else:
            self.method = (method or "GET").upper()
            self.url = str(input)
            self.headers = Headers(headers)
            self._body = _encode_body(body, self.headers)
        if self._body and self.method in ("GET", "HEAD"):
            raise TypeError(f"a {self.method} request cannot have a body")

    @classmethod
    def _from_host(cls, method, url, headers, body):
        request = cls.__new__(cls)
        request.method = method
        request.url = url
        h = request.headers = _new_headers(Headers)
        h._list = headers
        request._body = body
        return request

    def clone(self):
        return Request._from_host(self.method, self.url, list(self.headers._list), self._body)

    @property
    def js_object(self):
        """Code written for Pyodide passes ``request.js_object`` on (to ``asgi.fetch``, say): here it is the request."""
        return self

    @property
    def body(self):
        return self._body

    def __repr__(self):
        return f"<Request {self.method} {self.url}>"


class Response(_Body):
    """An HTTP response.

    ``Response(body=None, status=200, headers=None)``: a ``str`` body is sent as UTF-8 with
    ``content-type: text/plain;charset=UTF-8`` unless ``headers`` sets one; bytes-like bodies are sent as they are.
    ``Response.json(data)`` and ``Response.redirect(url)`` build the other common kinds.
    """

    __slots__ = ("status", "status_text", "headers", "_body", "url")

    def __init__(self, body=None, status=200, headers=None, status_text="", **init):
        if type(status) is not int:
            status = _status(status)
        if not 200 <= status <= 599:
            raise ValueError(f"a response status must be in 200..599, not {status}")
        self.status = status
        self.status_text = status_text
        # Fast path for the commonest response there is: Response("text").
        if headers is None and type(body) is str:
            h = self.headers = _new_headers(Headers)
            h._list = [("content-type", _TEXT)]
            self._body = body.encode()
        else:
            self.headers = Headers(headers)
            self._body = _encode_body(body, self.headers)
        self.url = ""

    @classmethod
    def _from_host(cls, status, headers, body, url):
        response = cls.__new__(cls)
        response.status = status
        response.status_text = ""
        response.headers = Headers._from_list(headers)
        response._body = body
        response.url = url
        return response

    @classmethod
    def json(cls, data, status=200, headers=None, status_text="", **init):
        """A response whose body is ``data`` as JSON, with ``content-type: application/json`` unless given."""
        import json

        headers = Headers(headers)
        if headers.get("content-type") is None:
            headers._list.append(("content-type", _JSON))
        return cls(json.dumps(data).encode(), status, headers, status_text)

    @classmethod
    def redirect(cls, url, status=302):
        """A redirect to ``url`` (``status`` one of 301, 302, 303, 307, 308)."""
        if status not in _REDIRECTS:
            raise ValueError(f"a redirect status must be one of 301, 302, 303, 307, 308, not {status}")
        return cls(None, status, [("location", str(url))])

    @property
    def ok(self):
        return 200 <= self.status <= 299

    @property
    def redirected(self):
        return False

    @property
    def body(self):
        return self._body

    @property
    def js_object(self):
        return self

    def clone(self):
        return type(self)._from_host(self.status, list(self.headers._list), self._body, self.url)

    def __repr__(self):
        return f"<Response {self.status}>"


def _status(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise TypeError(f"a response status must be an int, not {type(value).__name__}") from None


# Cloudflare's `json()` on an instance reads the body; `Response.json(...)` on the class builds one. One name, two
# meanings: the descriptor below dispatches on how it is reached.
class _JsonMethod:
    def __init__(self, build, read):
        self._build = build
        self._read = read

    def __get__(self, instance, owner):
        if instance is None:
            return self._build.__get__(owner, owner)
        return self._read.__get__(instance, owner)


Response.json = _JsonMethod(Response.__dict__["json"].__func__, _Body.json)


class FetchResponse(Response):
    """What ``fetch`` returns: a ``Response`` with the ``url`` it came from."""

    __slots__ = ()
