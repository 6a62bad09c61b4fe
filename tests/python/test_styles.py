# Handler discovery: WorkerEntrypoint subclasses (Default, or the only one) and top-level on_* functions with
# 1, 2 or 3 parameters, sync and async.
from harness import *
from _pyworkers import entrypoint
import marshal

import workers
module_env = workers.env
configure({"GREETING": "hi"})
assert module_env.GREETING == "hi" and workers.env["GREETING"] == "hi" and list(module_env) == ["GREETING"]

assert load("style_class_sync") == ("fetch", "scheduled")
assert marshal.loads(entrypoint.handlers(b"")) == ("fetch", "scheduled")
assert response("/x", "POST")[2] == b"sync class POST hi"

assert load("style_only_subclass") == ("fetch",)
status, headers, body = response()
assert body == b"only subclass" and header(headers, "x-env") == "hi", headers

assert load("style_on_fetch1") == ("fetch",)
assert response("/p?q=1")[2] == b"one http://127.0.0.1:8787/p?q=1"

assert load("style_on_fetch2") == ("fetch",)
assert response()[2] == b"two hi"

assert load("style_on_fetch3") == ("fetch", "queue")
assert response()[2] == b"three hi True False"

assert load("no_handlers") == ()
out = request("/")
assert out[0] == "error" and out[2:] == ("not-defined", "on_fetch"), out

try:
    load("two_entrypoints")
except TypeError as e:
    assert "Default" in str(e), e
else:
    raise AssertionError("two WorkerEntrypoint subclasses and no Default must be refused")
done()
