"""Pyodide FFI compatibility without JavaScript.

Pyodide's own ``pyodide`` package is in the standard library here and imports fine: outside a browser its
``pyodide.ffi`` conversion functions (``to_js``, ``create_proxy``, ...) return their argument, which is exactly
right when there is no JavaScript side. Two things are added:

- ``pyodide.ffi.to_py(value)``: code written for Pyodide converts JavaScript values with it; every value here is
  already Python, so it returns the value.
- ``import js`` (and ``pyodide_js``) fails with an ``ImportError`` that says why, instead of a bare "no module".
"""

import sys

from . import importhook

_NO_JS = (
    "No module named {name!r}: pyworkers runs Python without a JavaScript engine, so there are no JavaScript "
    "globals to import. Use the `workers` module (fetch, Response, ...) or the standard library instead."
)
_JS_MODULES = ("js", "pyodide_js")


class _NoJavaScriptFinder:
    def find_spec(self, name, path, target=None):
        if name in _JS_MODULES or name.startswith(("js.", "pyodide_js.")):
            raise ModuleNotFoundError(_NO_JS.format(name=name), name=name)
        return None


def to_py(value, *args, **kwargs):
    """Values are Python values already: there is no JavaScript object to convert."""
    return value


def _add_to_py(ffi):
    if not hasattr(ffi, "to_py"):
        ffi.to_py = to_py
        if "to_py" not in ffi.__all__:
            ffi.__all__.append("to_py")


def install():
    if not any(isinstance(f, _NoJavaScriptFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _NoJavaScriptFinder())
    importhook.after_import("pyodide.ffi", _add_to_py)
