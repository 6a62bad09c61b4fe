"""``http.client`` (hence ``urllib.request``) over the host: outbound HTTP without sockets.

There is no network stack in the guest. When ``http.client`` is imported, its connections get a stand-in socket:
``sendall`` collects the raw HTTP/1.1 request the stock client writes; when the client reads the response
(``makefile``), the collected request is parsed and sent to the host in one blocking call
(``hostcall.fetch``), and the host's answer is rebuilt as raw HTTP/1.1 for the stock response parser. So
``http.client``, ``urllib.request`` and what is built on them work unchanged, with the host's allow-list,
timeouts and TLS. Redirects are answers here, as from a socket: ``urllib.request`` (and ``urllib3``, ``requests``)
follow them themselves, each hop checked by the host again.
"""

from . import hostcall, importhook

# Framing the host does itself: it is not passed on, and the rebuilt response says only what the body is.
_REQUEST_DROPPED = frozenset((b"host", b"content-length", b"transfer-encoding", b"connection", b"keep-alive"))
_RESPONSE_DROPPED = frozenset(("content-length", "transfer-encoding", "connection", "keep-alive"))


class HostSocket:
    """What an ``http.client`` connection writes to and reads from, instead of a TCP socket."""

    def __init__(self, scheme, host, port, timeout, deferred=False):
        self._scheme = scheme
        # Deferred: exchange when the response is read, not when the request is whole (urllib3 expects a timeout
        # from reading the response, and sets the read timeout just before).
        self._deferred = deferred
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # an IPv6 address
        self._authority = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
        self._timeout = timeout
        self._sent = bytearray()
        self._replies = []

    def sendall(self, data):
        self._sent += data
        # Exchange as soon as a whole request is here, so failures surface from `request()` as a refused
        # connection would (urllib.request then raises URLError), not later from `getresponse()`.
        if not self._deferred and _request_length(self._sent) is not None:
            self._replies.append(self._exchange())

    def send(self, data):
        self.sendall(data)
        return len(data)

    def makefile(self, mode="rb", buffering=None, **kwargs):
        import io

        if not self._replies and _request_length(self._sent) is not None:
            self._replies.append(self._exchange())
        if not self._replies:
            raise ConnectionError("http.client read a response before sending a whole request")
        return io.BytesIO(self._replies.pop(0))

    def settimeout(self, timeout):
        self._timeout = float(timeout) if isinstance(timeout, (int, float)) else None

    def gettimeout(self):
        return self._timeout

    def setsockopt(self, *args):
        pass

    def close(self):
        pass

    def _exchange(self):
        method, target, host, headers, body = self._take_request()
        if target.startswith(("http://", "https://")):
            url = target  # absolute form, as sent to a proxy
        else:
            url = f"{self._scheme}://{host or self._authority}{target}"
        status, reply_headers, reply_body, _url = hostcall.fetch(
            method, url, headers, body, self._timeout, redirect="manual"
        )
        return _raw_response(method, status, reply_headers, reply_body)

    def _take_request(self):
        """Parse (and consume) one raw request from what was sent: ``(method, target, host, headers, body)``."""
        data = bytes(self._sent)
        head_end = data.find(b"\r\n\r\n")
        if head_end < 0:
            raise ConnectionError("http.client sent an incomplete request head")
        lines = data[:head_end].split(b"\r\n")
        method, target, _version = lines[0].decode("latin-1").split(" ", 2)
        pairs = []
        host = None
        length = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            value = value.strip()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"host":
                host = value.decode("latin-1")
            if name not in _REQUEST_DROPPED:
                pairs.append((name.decode("latin-1"), value.decode("latin-1")))
        rest = data[head_end + 4 :]
        if chunked:
            body, used = _dechunk(rest)
        else:
            used = length or 0
            if len(rest) < used:
                raise ConnectionError("http.client sent less body than its content-length")
            body = rest[:used]
        del self._sent[: head_end + 4 + used]
        return method, target, host, pairs, body


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _request_length(data):
    """The length of the first whole request in ``data``, or None while it is still incomplete."""
    head_end = data.find(b"\r\n\r\n")
    if head_end < 0:
        return None
    start = head_end + 4
    for line in bytes(data[:head_end]).split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            end = start + int(value)
            return end if len(data) >= end else None
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            try:
                _, used = _dechunk(bytes(data[start:]))
            except (ConnectionError, ValueError):
                return None
            return start + used
    return start


def _dechunk(data):
    """Decode a chunked body: ``(body, bytes used)``."""
    body = []
    pos = 0
    while True:
        line_end = data.find(b"\r\n", pos)
        if line_end < 0:
            raise ConnectionError("http.client sent an incomplete chunked body")
        size = int(data[pos:line_end].split(b";", 1)[0], 16)
        pos = line_end + 2
        if size == 0:
            # Skip trailers up to the empty line.
            end = data.find(b"\r\n\r\n", pos - 2)
            if end < 0:
                raise ConnectionError("http.client sent an incomplete chunked body")
            return b"".join(body), end + 4
        body.append(data[pos : pos + size])
        pos += size + 2


def _raw_response(method, status, headers, body):
    from http import HTTPStatus

    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    out = [f"HTTP/1.1 {status} {reason}\r\n"]
    length = None
    for name, value in headers:
        if name.lower() in _RESPONSE_DROPPED:
            if name.lower() == "content-length":
                length = value
            continue
        out.append(f"{name}: {value}\r\n")
    # A HEAD response has no body but tells the length the GET body would have.
    out.append(f"content-length: {length if method == 'HEAD' and length is not None else len(body)}\r\n\r\n")
    return "".join(out).encode("latin-1") + body


def _timeout(conn):
    timeout = conn.timeout
    return float(timeout) if isinstance(timeout, (int, float)) else None


def _patch(client):
    def connect_http(self):
        self.sock = HostSocket("http", self.host, self.port, _timeout(self))

    def connect_https(self):
        self.sock = HostSocket("https", self.host, self.port, _timeout(self))

    connect_http.__doc__ = connect_https.__doc__ = "Connect through the pyworkers host (there are no sockets)."
    client.HTTPConnection.connect = connect_http
    https = getattr(client, "HTTPSConnection", None)
    if https is not None:
        https.connect = connect_https


def install():
    importhook.after_import("http.client", _patch)
