"""Blocking calls into the host through the ``/dev/pyworkers`` device, and what their failures mean in Python.

Code that cannot return to the host mid-call (``http.client``, hence ``urllib.request``) writes one request frame
to the device and reads the reply; the host serves it (asynchronously on its side) while this instance waits.
The device exists only under ``pyworkers serve``. Frames are ``marshal`` version 2 data:

- request: ``("fetch", method, url, headers, body, timeout_seconds[, redirect])``, headers a list of
  ``(name, value)``, ``timeout_seconds`` a float or None (the host's default), ``redirect`` ``"follow"`` (the
  default: the host follows redirects) or ``"manual"`` (a redirect is the answer, for clients that follow them
  themselves);
- reply: a 4-byte little-endian length, then ``marshal((ok, value))``: ``ok`` → ``(status, headers, body,
  url)``; not ok → ``(kind, message)``, turned into an exception by :func:`error`.

Binding calls use the same device with their own frames (``("kv.get", binding, key)``, ``("d1.query", binding,
sql, params)``, Durable Object ids ``("do.id_from_name", binding, name)``, ...; see ``workers._bindings``), served by
the host's ``serve::bindings``; in a Durable Object's instance, ``("storage.get", keys)`` and the other storage frames
reach that object's storage (``workers._durable``).

``call`` is the one place that touches the device, so tests replace it.
"""

import marshal
import os

DEVICE = "/dev/pyworkers"

_NO_DEVICE = (
    "outbound HTTP goes through the host, which only `pyworkers serve --allow-host HOST` provides "
    "(there is no network under `pyworkers run`)"
)


def call(frame):
    """Send one request ``frame`` (bytes) to the host and return its reply (bytes), blocking until it comes."""
    try:
        fd = os.open(DEVICE, os.O_RDWR)
    except FileNotFoundError:
        raise PermissionError(_NO_DEVICE) from None
    try:
        os.write(fd, frame)
        size = int.from_bytes(_read_exactly(fd, 4), "little")
        return _read_exactly(fd, size)
    finally:
        os.close(fd)


def _read_exactly(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            raise ConnectionError("the host closed /dev/pyworkers in the middle of a reply")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def error(kind, message):
    """The exception for a failed host call: ``kind`` is one of the host's failure kinds."""
    if kind == "denied":
        return PermissionError(message)
    if kind == "timeout":
        return TimeoutError(message)
    if kind == "error":
        return ConnectionError(message)
    # "too-large", and any kind a newer host may add.
    return OSError(message)


def fetch(method, url, headers, body, timeout=None, redirect="follow"):
    """One outbound HTTP request, blocking: ``(status, headers, body, url)``, or raises as :func:`error` says."""
    frame = ("fetch", method, url, headers, body, timeout)
    if redirect != "follow":
        frame += (redirect,)
    frame = marshal.dumps(frame, 2)
    ok, value = marshal.loads(call(frame))
    if not ok:
        raise error(*value)
    return value
