"""Drives ``_pyworkers.entrypoint`` the way the host does: marshal frames in, marshal frames out.

Test scripts run under ``pyworkers run`` with ``tests/python`` mounted at ``/tests``; their workers live in
``/tests/workers``. Each script is one instance: ``load`` one worker, ``configure`` it, then ``step``.
"""

import marshal
import sys

sys.path.insert(0, "/tests/workers")

from _pyworkers import entrypoint  # noqa: E402

URL = "http://127.0.0.1:8787"


def load(module):
    return marshal.loads(entrypoint.load(module.encode()))


def configure(vars=None, name="test"):
    assert marshal.loads(entrypoint.configure(marshal.dumps({"vars": vars or {}, "name": name}, 2))) is None


def step(*events):
    """One step; returns (outbox, next_timer, background)."""
    return marshal.loads(entrypoint.step(marshal.dumps(list(events), 2)))


_rid = 0


def next_rid():
    global _rid
    _rid += 1
    return _rid


def fetch_event(path="/", method="GET", headers=(), body=b"", rid=None):
    return ("fetch", rid or next_rid(), method, URL + path, list(headers), body)


def request(path="/", method="GET", headers=(), body=b""):
    """Send one request and expect its answer in the same step: the outbox's only event."""
    event = fetch_event(path, method, headers, body)
    outbox, _, _ = step(event)
    assert len(outbox) == 1, outbox
    assert outbox[0][1] == event[1], (outbox, event)
    return outbox[0]


def response(path="/", method="GET", headers=(), body=b""):
    """``request``, expecting a response: (status, headers, body)."""
    out = request(path, method, headers, body)
    assert out[0] == "response", out
    return out[2], out[3], out[4]


def header(headers, name):
    values = [v for n, v in headers if n == name]
    assert len(values) == 1, (name, headers)
    return values[0]


def done():
    print("ok")


def run_now(coro):
    """Run a coroutine that never suspends (the instance's loop is 'running', so asyncio.run cannot)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine suspended")
