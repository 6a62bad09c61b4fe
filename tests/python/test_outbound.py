# Outbound fetch through the outbox (two steps), failures as Python exceptions, timers, wait_until, cancel.
import json, time
from harness import *

load("outbound")
configure()

# fetch: the first step emits the outbound request, the result event completes the handler.
event = fetch_event("/proxy")
out, timer, background = step(event)
assert len(out) == 1 and out[0][0] == "fetch", out
_, op, method, url, headers, body = out[0]
assert (method, url, body) == ("POST", "https://upstream.example/data", b"ping"), out
assert headers == [("x-k", "v"), ("content-type", "text/plain;charset=UTF-8")], headers
assert (timer, background) == (None, 0)
upstream = (200, [("x-up", "u"), ("content-type", "application/json")], b'{"n": 1}', url)
out, _, _ = step(("result", op, True, upstream))
text = b"200 True https://upstream.example/data u {'n': 1}"
assert out == [("response", event[1], 200, [("content-type", "text/plain;charset=UTF-8")], text)], out

event = fetch_event("/request-object")
(out,), _, _ = step(event)
assert out[2:4] == ("DELETE", "http://upstream.example/r"), out
(resp,), _, _ = step(("result", out[1], True, (404, [], b"gone", out[3])))
assert resp[0] == "response" and resp[2] == 404 and resp[4] == b"gone", resp

# denied → PermissionError (the message is the host's)
event = fetch_event("/denied")
(out,), _, _ = step(event)
message = "forbidden.example is not allowed: pass --allow-host forbidden.example"
(resp,), _, _ = step(("result", out[1], False, ("denied", message)))
assert resp[2] == 403 and resp[4] == f"denied: {message}".encode(), resp

# timeout → TimeoutError, an exception event
event = fetch_event("/timeout")
(out,), _, _ = step(event)
(resp,), _, _ = step(("result", out[1], False, ("timeout", "upstream took longer than 30s")))
assert resp[:3] == ("error", event[1], "exception") and "TimeoutError: upstream took longer than 30s" in resp[3], resp

# asyncio.sleep → next_timer; the host calls step again when it is due
event = fetch_event("/sleep")
out, timer, _ = step(event)
assert out == [] and 0.1 < timer <= 0.2, timer
time.sleep(timer)
out, timer, _ = step()
assert out == [("response", event[1], 200, [("content-type", "text/plain;charset=UTF-8")], b"slept")], out
assert timer is None

# cancel: the handler's task is cancelled, nothing is emitted, its outbound result is ignored
event = fetch_event("/sleep")
out, timer, _ = step(event)
assert out == [] and timer > 0
out, timer, _ = step(("cancel", event[1]))
assert (out, timer) == ([], None), (out, timer)
event = fetch_event("/proxy")
(fetch_out,), _, _ = step(event)
assert step(("cancel", event[1]))[0] == []
assert step(("result", fetch_out[1], True, (200, [], b"{}", "u")))[0] == []

# wait_until: the work starts after the response is out (the next step) and is counted meanwhile
event = fetch_event("/wait-until")
out, timer, background = step(event)
assert out[0][:3] == ("response", event[1], 200) and (timer, background) == (0.0, 1), (out, timer, background)
import outbound
assert outbound.log == ["handler returned"], outbound.log
out, timer, background = step()
assert out == [] and background == 1 and 0 < timer <= 0.05, (out, timer, background)
time.sleep(timer)
out, timer, background = step()
assert (out, timer, background) == ([], None, 0), (out, timer, background)
assert json.loads(response("/log")[2]) == ["handler returned", "bg started", "bg finished"]

outbound.log.clear()
event = fetch_event("/wait-until-task")
out, timer, background = step(event)
assert out[0][:3] == ("response", event[1], 200) and background == 1 and 0 < timer <= 0.05, (out, timer, background)
assert outbound.log == ["task started"], outbound.log
time.sleep(timer)
assert step()[1:] == (None, 0) and outbound.log == ["task started", "task finished"], outbound.log

out = request("/wait-until-bad")
assert out[2] == "exception" and "TypeError: wait_until() needs an awaitable" in out[3], out
done()
