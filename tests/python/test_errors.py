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

# Events for handlers the worker does not define.
out, _, _ = step(("scheduled", 77, "* * * * *", 0.0), ("queue", 78, "q", []))
assert out == [("error", 77, "not-defined", "on_scheduled"), ("error", 78, "not-defined", "on_queue")], out
done()
