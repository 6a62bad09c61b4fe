"""Third-party HTTP clients over the host: ``urllib3`` (hence ``requests``) and ``httpx``, unmodified.

There are no sockets in the guest, so each client's transport is replaced, when the client is imported, by one
that sends the request through the host (``hostcall.fetch``, or the reactor's outbox for ``httpx.AsyncClient``):
the host's ``--allow-host`` policy, deadlines and size limits apply, TLS is the host's. The clients keep doing
everything above the transport themselves — redirects (the host is asked not to follow them), retries, cookies,
content decoding, timeouts' meaning — so they behave as they document.

- ``urllib3`` 2.x: its connections (``urllib3.connection.HTTPConnection``/``HTTPSConnection``) are the standard
  library's ``http.client`` ones, whose socket is already the host's (``httpclient.HostSocket``); ``connect`` is
  replaced so they never open a TCP socket. urllib3's own platform integration for Pyodide
  (``urllib3.contrib.emscripten``, which it imports by itself on ``sys.platform == "emscripten"``) calls
  JavaScript's ``fetch``; pyworkers provides that module instead, as one that installs this integration.
- ``httpx``: ``HTTPTransport`` and ``AsyncHTTPTransport`` (what ``Client`` and ``AsyncClient`` make by default) are
  replaced with transports that call the host. The async one awaits the host's answer like ``workers.fetch`` does,
  so other requests of the instance run meanwhile.
"""

import sys

from . import hostcall, httpclient, importhook

#: Framing the host does itself, dropped from requests.
_FRAMING = frozenset(("host", "content-length", "transfer-encoding", "connection", "keep-alive"))

_NO_PROXY = "proxies are not supported: outbound requests go straight from the pyworkers host (see --allow-host)"


# --- urllib3 -----------------------------------------------------------------------------------------------------


def _patch_urllib3(connection):
    """Make ``urllib3.connection``'s connections talk to the host instead of opening sockets."""
    plain = connection.HTTPConnection
    secure = connection.HTTPSConnection
    if getattr(plain, "_pyworkers_host", False):
        return

    def connect(self):
        if getattr(self, "_tunnel_host", None):
            raise OSError(_NO_PROXY)
        scheme = "https" if isinstance(self, secure) else "http"
        self.sock = httpclient.HostSocket(scheme, self.host, self.port, httpclient._timeout(self), deferred=True)
        self._has_connected_to_proxy = False
        if scheme == "https":
            # The host verifies the certificate against its own roots.
            self.is_verified = True
            self.proxy_is_verified = None

    connect.__doc__ = "Connect through the pyworkers host (there are no sockets)."
    plain.connect = connect
    secure.connect = connect
    # urllib3 asks a socket whether the peer closed it; a host connection is there until closed.
    plain.is_connected = property(lambda self: self.sock is not None)
    plain._pyworkers_host = True


def _emscripten_integration(module):
    """What pyworkers puts in place of ``urllib3.contrib.emscripten`` (which needs JavaScript)."""

    def inject_into_urllib3():
        """Send urllib3's requests through the pyworkers host (done already when urllib3 is imported)."""
        import urllib3.connection

        _patch_urllib3(urllib3.connection)

    module.__doc__ = "urllib3 on pyworkers: requests go through the host (``_pyworkers.httplibs``)."
    module.inject_into_urllib3 = inject_into_urllib3


# --- httpx -------------------------------------------------------------------------------------------------------


def _timeout(request):
    """One deadline for the host from httpx's per-phase timeouts: the longest of them, or None for the host's."""
    phases = request.extensions.get("timeout") or {}
    values = [float(v) for v in phases.values() if isinstance(v, (int, float))]
    return max(values) if values else None


def _outbound(request, body):
    headers = [(k, v) for k, v in request.headers.multi_items() if k.lower() not in _FRAMING]
    return (request.method, str(request.url), headers, body)


def _patch_httpx(httpx):
    """Replace httpx's default transports with ones backed by the host."""
    if getattr(httpx.HTTPTransport, "_pyworkers_host", False):
        return

    class HostDenied(httpx.ConnectError, PermissionError):
        """The host does not allow this destination (``--allow-host``); also a ``PermissionError``."""

    class HostTimeout(httpx.ReadTimeout, TimeoutError):
        """The host's deadline for the request passed; also a ``TimeoutError``."""

    def translate(error, request):
        message = str(error)
        if isinstance(error, PermissionError):
            return HostDenied(message, request=request)
        if isinstance(error, TimeoutError):
            return HostTimeout(message, request=request)
        if isinstance(error, ConnectionError):
            return httpx.ConnectError(message, request=request)
        return httpx.ReadError(message, request=request)

    def retryable(error):
        """Whether httpx's ``retries`` apply: a failed connection, never a host the policy refused."""
        return isinstance(error, httpx.ConnectError) and not isinstance(error, HostDenied)

    def response(request, status, headers, body):
        try:
            from http import HTTPStatus

            reason = HTTPStatus(status).phrase.encode("ascii")
        except ValueError:
            reason = b""
        return httpx.Response(
            status,
            headers=headers,
            stream=httpx.ByteStream(body),
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": reason},
        )

    def check_options(proxy, uds):
        if proxy is not None:
            raise ValueError(_NO_PROXY)
        if uds is not None:
            raise ValueError("Unix sockets are not available: outbound requests go through the pyworkers host")

    class HTTPTransport(httpx.BaseTransport):
        """httpx's sync transport on pyworkers: each request is one blocking host call. TLS options are the
        host's (it verifies certificates against its own roots); ``retries`` retries a failed connection."""

        _pyworkers_host = True

        def __init__(self, verify=True, cert=None, trust_env=True, http1=True, http2=False, limits=None,
                     proxy=None, uds=None, local_address=None, retries=0, socket_options=None):
            check_options(proxy, uds)
            self._retries = retries

        def handle_request(self, request):
            args = _outbound(request, request.read())
            for attempt in range(self._retries + 1):
                try:
                    status, headers, body, _url = hostcall.fetch(*args, _timeout(request), redirect="manual")
                    return response(request, status, headers, body)
                except OSError as e:
                    error = translate(e, request)
                    if not retryable(error) or attempt == self._retries:
                        raise error from e

        def close(self):
            pass

    class AsyncHTTPTransport(httpx.AsyncBaseTransport):
        """httpx's async transport on pyworkers: the request goes to the host as ``workers.fetch``'s do and is
        awaited, so the instance's other requests run meanwhile."""

        _pyworkers_host = True

        def __init__(self, verify=True, cert=None, trust_env=True, http1=True, http2=False, limits=None,
                     proxy=None, uds=None, local_address=None, retries=0, socket_options=None):
            check_options(proxy, uds)
            self._retries = retries

        async def handle_async_request(self, request):
            import asyncio

            from . import entrypoint

            args = _outbound(request, await request.aread())
            for attempt in range(self._retries + 1):
                try:
                    if entrypoint.is_reactor_loop(asyncio.get_running_loop()):
                        result = await entrypoint.start_fetch(*args, _timeout(request), "manual")
                    else:
                        result = hostcall.fetch(*args, _timeout(request), redirect="manual")
                    status, headers, body, _url = result
                    return response(request, status, headers, body)
                except OSError as e:
                    error = translate(e, request)
                    if not retryable(error) or attempt == self._retries:
                        raise error from e

        async def aclose(self):
            pass

    for cls in (HTTPTransport, AsyncHTTPTransport):
        cls.__module__ = "httpx"
    for name, module in list(sys.modules.items()):
        if name == "httpx" or name.startswith("httpx."):
            if getattr(module, "HTTPTransport", None) is not None:
                module.HTTPTransport = HTTPTransport
            if getattr(module, "AsyncHTTPTransport", None) is not None:
                module.AsyncHTTPTransport = AsyncHTTPTransport


def install():
    importhook.after_import("urllib3.connection", _patch_urllib3)
    importhook.substitute("urllib3.contrib.emscripten", _emscripten_integration)
    importhook.after_import("httpx", _patch_httpx)
