"""``fetch``: outbound HTTP from a handler, through the host.

Under ``serve`` the request goes out through the reactor's outbox and the handler's task waits for the host's
result without blocking the instance. Anywhere else (no reactor loop running) it falls back to the blocking host
device, which explains itself where it does not exist.
"""

import asyncio

from _pyworkers import entrypoint as _reactor
from _pyworkers import hostcall as _hostcall

from ._messages import FetchResponse, Request


async def fetch(resource, method=None, headers=None, body=None, **init):
    """Send ``resource`` (a URL or a ``Request``) and return the ``FetchResponse``.

    Raises ``PermissionError`` when the host does not allow the destination (see ``--allow-host``),
    ``TimeoutError`` past the host's timeout, ``ConnectionError``/``OSError`` for other failures.
    """
    request = Request(resource, method=method, headers=headers, body=body)
    url = request.url
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"fetch needs an absolute http:// or https:// URL, not {url!r}")
    args = (request.method, url, request.headers._list, request._body)
    if _reactor.is_reactor_loop(asyncio.get_running_loop()):
        status, headers, body, final_url = await _reactor.start_fetch(*args)
    else:
        status, headers, body, final_url = _hostcall.fetch(*args)
    return FetchResponse._from_host(status, headers, body, final_url)
