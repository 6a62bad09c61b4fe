# Exceptions become "error" events carrying the traceback (not printed); missing handlers are "not-defined".
import io, sys
from harness import *

assert load("failing") == ("fetch",)
configure()

captured = io.StringIO()
real_stderr, sys.stderr = sys.stderr, captured
try:
    out = request("/sync-raise")
finally:
    sys.stderr = real_stderr
assert out[0] == "error" and out[2] == "exception", out
text = out[3]
assert text.startswith("Traceback (most recent call last):"), text
assert "ValueError: bad value 1" in text and "in helper" in text and "in on_fetch" in text, text
assert "_pyworkers/entrypoint.py" not in text, text
assert captured.getvalue() == "", captured.getvalue()

# An exception after a suspension arrives in a later step.
event = fetch_event("/async-raise")
out, timer, _ = step(event)
assert out[0][:3] == ("error", event[1], "exception") and "ValueError: bad value 2" in out[0][3], out

out = request("/not-a-response")
assert out[2] == "exception" and "returned str, not a workers.Response" in out[3], out

assert response("/")[2] == b"fine"

# sys.exit() in a handler fails that request, not the instance.
out = request("/exit")
assert out[2] == "exception" and "SystemExit: 3" in out[3], out
event = fetch_event("/async-exit")
out, _, _ = step(event)
assert out[0][:3] == ("error", event[1], "exception") and "SystemExit: 4" in out[0][3], out

# A malformed or unknown event is reported on stderr; the step's other events are still handled.
captured = io.StringIO()
real_stderr, sys.stderr = sys.stderr, captured
try:
    out, _, _ = step(("fetch", 1), ("bogus", 2), fetch_event("/", rid=900))
finally:
    sys.stderr = real_stderr
assert [e[:3] for e in out] == [("response", 900, 200)], out
assert captured.getvalue().count("pyworkers: cannot handle host event") == 2, captured.getvalue()

# Events for handlers the worker does not define.
out, _, _ = step(("scheduled", 77, "* * * * *", 0.0), ("queue", 78, "q", []))
assert out == [("error", 77, "not-defined", "on_scheduled"), ("error", 78, "not-defined", "on_queue")], out
done()
