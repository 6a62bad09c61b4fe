# Scheduled and queue events: handlers run, then "done" (or "error").
from harness import *

assert load("events") == ("scheduled", "queue")
configure({"X": "x"})
import events

out, _, _ = step(("scheduled", 5, "*/5 * * * *", 1700000000000.0))
assert out == [("done", 5)], out
assert events.seen == [("scheduled", "*/5 * * * *", 1700000000000.0, 1700000000000.0, "x")], events.seen
events.seen.clear()

msgs = [("m1", 1700000000000.0, b'{"k": [1]}', 1), ("m2", 1700000001500.0, b'"s"', 2)]
out, _, _ = step(("queue", 6, "jobs", msgs))
assert out == [("done", 6)], out
assert events.seen == [
    ("queue", "jobs", "m1", {"k": [1]}, 1, "2023-11-14T22:13:20+00:00"),
    ("queue", "jobs", "m2", "s", 2, "2023-11-14T22:13:21.500000+00:00"),
], events.seen

out, _, _ = step(("queue", 7, "bad", []))
assert out[0][:3] == ("error", 7, "exception") and "RuntimeError: queue failure" in out[0][3], out
# A fetch to a worker without a fetch handler names the method looked for.
assert request("/")[2:] == ("not-defined", "Default.fetch")
done()
