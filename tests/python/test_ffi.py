# Pyodide FFI without JavaScript: to_js/to_py hand back Python values; `import js` says why it fails.
import pyodide.ffi
from pyodide.ffi import to_js, to_py

value = {"a": [1, 2], "b": None}
assert to_js(value) is value and to_py(value) is value and to_js(value, dict_converter=dict) is value

for name in ("js", "pyodide_js", "js.globalThis"):
    try:
        __import__(name)
    except ImportError as e:
        assert isinstance(e, ModuleNotFoundError) and e.name == name.split(".")[0], e
        assert "without a JavaScript engine" in str(e), e
    else:
        raise AssertionError(f"import {name} must fail")

import workers
try:
    workers.import_from_javascript("cloudflare:workers")
except ImportError as e:
    assert "JavaScript" in str(e)
else:
    raise AssertionError("must fail")
print("ok")
