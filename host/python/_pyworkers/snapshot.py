"""The guest's side of memory snapshots (the ``snapshot`` WIT interface): ``prepare`` does the import-time work a
snapshot captures; ``restored`` runs once in every instance restored from it, before its first event.

The host runs ``prepare`` with deterministic entropy and a deterministic clock, captures memory afterwards, and
switches entropy to live before calling ``restored``.
"""

import importlib
import sys

#: What a baseline snapshot imports: the interpreter plus the standard library most workers reach for. Kept in
#: one place so the README and the tests can name it.
BASELINE_IMPORTS = (
    "asyncio",
    "base64",
    "collections",
    "dataclasses",
    "datetime",
    "decimal",
    "email",
    "email.message",
    "email.parser",
    "email.utils",
    "enum",
    "functools",
    "hashlib",
    "http",
    "io",
    "itertools",
    "json",
    "math",
    "random",
    "re",
    "string",
    "time",
    "traceback",
    "typing",
    "urllib.parse",
    "uuid",
)

#: Where the worker's files are mounted for a dedicated snapshot.
WORKER_ROOT = "/app"


#: The runtime's own modules every snapshot holds, so no request pays for importing them.
RUNTIME_IMPORTS = ("workers", "_pyworkers.entrypoint")


def prepare(kind, worker_module=None, strict=True):
    """Import what a ``kind`` snapshot holds: the baseline modules and the ``workers`` SDK, and for ``dedicated``
    the worker module, whose handlers are then found (``entrypoint.load``)."""
    from . import entropy

    if kind not in ("baseline", "dedicated"):
        raise ValueError(f"unknown snapshot kind {kind!r}")
    entropy.before_prepare()
    for name in BASELINE_IMPORTS + RUNTIME_IMPORTS:
        importlib.import_module(name)
    if kind == "dedicated":
        if not worker_module:
            raise ValueError("a dedicated snapshot needs the worker's module name")
        if WORKER_ROOT not in sys.path:
            sys.path.insert(0, WORKER_ROOT)
        _add_site_packages()
        importlib.import_module(worker_module)
        from . import entrypoint

        entrypoint.load(worker_module.encode())
    entropy.after_prepare(strict=strict)
    # Output buffered now would be written again by every restored instance.
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    # Collect garbage now so it is not part of every instance's memory, then move everything that survives to the
    # permanent generation: a collection in a restored instance would otherwise walk (and so write to, and
    # copy-on-write) every object in the snapshot.
    import gc

    gc.collect()
    gc.freeze()


#: Where the worker's third-party packages are mounted, when it has any (``packages::SITE_PACKAGES``).
SITE_PACKAGES = "/lib/site-packages"


def _add_site_packages():
    """Put site-packages on ``sys.path`` the way ``site`` does (``.pth`` files honoured). Compiled extensions in it
    load through the host's dynamic linker; one that cannot be linked raises ``ImportError`` naming the missing
    symbol. An extension with its Python source beside it (compiled by mypyc) is loaded from that source instead:
    the same module, without native code to link."""
    import os

    if not os.path.isdir(SITE_PACKAGES):
        return
    import site

    site.addsitedir(SITE_PACKAGES)
    from . import importhook

    for top, _dirs, files in os.walk(SITE_PACKAGES):
        for name in files:
            if not name.endswith(".so"):
                continue
            rel = os.path.relpath(os.path.join(top, name), SITE_PACKAGES)
            module = rel.split(".", 1)[0].replace(os.sep, ".")
            source = os.path.join(top, name.split(".", 1)[0] + ".py")
            if os.path.isfile(source):
                # Compiled from this source (mypyc, as charset-normalizer ships it): the source is the module.
                importhook.source_instead(module, source)


def restored():
    """Make this instance's randomness its own."""
    from . import entropy

    entropy.restored()
