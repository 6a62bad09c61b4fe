# Python's share of a hello-world request: one step() with one fetch event, frames prebuilt as the host builds
# them. Prints the microseconds per request; the Rust test checks a generous bound.
import marshal
import time
from harness import *
from _pyworkers import entrypoint

load("hello")
configure()
frames = [marshal.dumps([("fetch", rid, "GET", URL + "/", [("host", "127.0.0.1:8787"), ("accept", "*/*")], b"")], 2)
          for rid in range(1, 2001)]
step_ = entrypoint.step
for frame in frames[:200]:  # warm up
    step_(frame)
best = None
for _ in range(5):
    start = time.perf_counter()
    for frame in frames:
        step_(frame)
    elapsed = (time.perf_counter() - start) / len(frames)
    best = elapsed if best is None else min(best, elapsed)
out = marshal.loads(step_(frames[0]))
assert out[0][0][0] == "response", out
print(f"step_us_per_request {best * 1e6:.2f}")
