"""The pyworkers runtime's Python side: bootstrap and glue between the host and user code.

Mounted read-only at /lib/pyworkers. Kept small and import-light: everything here runs on every cold start.
"""

from . import eventloop, ffi, httpclient, importhook

eventloop.install()
ffi.install()
httpclient.install()

# `_ctypes` calls native code through libffi. Here there is no libffi call or closure support and no `dlopen` of
# arbitrary native libraries: only WebAssembly runs, inside the sandbox. Left alone, its initialisation fails to
# allocate a libffi closure and surfaces as a bare MemoryError.
importhook.unavailable(
    "_ctypes",
    "ctypes is not available in pyworkers: it calls native code through libffi, and this sandbox has no libffi "
    "and cannot load native libraries (dlopen); only WebAssembly runs here",
)
