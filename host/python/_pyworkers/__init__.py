"""The pyworkers runtime's Python side: bootstrap and glue between the host and user code.

Mounted read-only at /lib/pyworkers. Kept small and import-light: everything here runs on every cold start.
"""

from . import eventloop, ffi, httpclient

eventloop.install()
ffi.install()
httpclient.install()
