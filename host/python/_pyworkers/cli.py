"""`pyworkers run`: behave like the ``python`` command for a script or ``-c`` code.

The host calls one of these through ``PyRun_SimpleString``. Exit statuses follow ``python``: the ``SystemExit``
code, 1 after printing the traceback of an uncaught exception, 0 otherwise.
"""

import sys


def _exit(status):
    """Flush, then end the process with ``status`` without tearing down the interpreter."""
    import os

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    os._exit(status)


def _system_exit_status(exc):
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        print(code, file=sys.stderr)
    except Exception:
        pass
    return 1


def _run(code_obj):
    import __main__

    try:
        exec(code_obj, __main__.__dict__)
    except SystemExit as exc:
        _exit(_system_exit_status(exc))
    except BaseException as exc:
        # Hide this module's frame, as python's own runner shows only user frames.
        tb = exc.__traceback__
        if tb is not None and tb.tb_frame.f_code is _run.__code__:
            tb = tb.tb_next
        sys.excepthook(type(exc), exc.with_traceback(tb), tb)
        _exit(1)
    _exit(0)


def run_path(path, argv=None):
    """Run the file at ``path`` as ``__main__``, with ``sys.argv`` set to ``argv``."""
    import __main__
    import os

    if argv is not None:
        sys.argv = list(argv)
    with open(path, "rb") as f:
        source = f.read()
    __main__.__file__ = path
    sys.path.insert(0, os.path.dirname(path) or ".")
    _run(compile(source, path, "exec"))


def run_command(source, argv=None):
    """Run ``-c`` source as ``__main__``, with ``sys.argv`` set to ``argv``."""
    if argv is not None:
        sys.argv = list(argv)
    sys.path.insert(0, "")
    _run(compile(source, "<string>", "exec"))
