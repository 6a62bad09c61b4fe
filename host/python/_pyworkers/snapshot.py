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


#: The objects `immortal_candidates` named, kept alive until the host has made them immortal.
_held = None


def immortal_candidates(_unused=b""):
    """Every object the prepared interpreter holds, as little-endian 32-bit addresses, for the host to make
    immortal (``_Py_SetImmortal``) before it captures memory.

    Why: CPython writes an object's reference count whenever code uses it, so the first request in a restored
    instance would copy-on-write every page holding a function, type, module dict or constant it touches —
    thousands of pages for a framework like FastAPI. Immortal objects' counts are never written (PEP 683, whose
    motivation is exactly this: sharing memory between processes forked from one parent). They are also never
    freed, which costs nothing here: an instance lives for a bounded number of requests, and objects from the
    snapshot would stay referenced by the modules that made them anyway. Immortalising also untracks them from
    the garbage collector, so no collection walks (and writes to) them.

    The objects stay referenced (``_held``) until the host calls :func:`immortal_done`, so none of them can be
    freed between naming it and immortalising it."""
    global _held
    import gc
    import sys
    import types

    gc.unfreeze()
    gc.collect()
    roots = gc.get_objects()
    # One bit per 8 bytes of address space (no two objects start within 8 bytes of each other: each is at least
    # a header long): far smaller than a set of ids, so the walk barely grows the heap the snapshot captures.
    seen = bytearray(max(map(id, roots), default=0) >> 5)
    held = []
    stack = list(roots)
    # Code objects are not containers the collector walks, but their constants and names are theirs.
    code_parts = ("co_consts", "co_names", "co_varnames", "co_filename", "co_name",
                  "co_qualname", "co_linetable", "co_exceptiontable")
    while stack:
        obj = stack.pop()
        address = id(obj)
        bit = 1 << (address >> 3 & 7)
        if address >> 6 >= len(seen):
            seen.extend(bytes((address >> 6) - len(seen) + 4096))
        elif seen[address >> 6] & bit:
            continue
        seen[address >> 6] |= bit
        held.append(obj)
        if type(obj) is types.CodeType:
            stack.extend(getattr(obj, part) for part in code_parts)
        else:
            stack.extend(gc.get_referents(obj))
    mine = {id(held), id(seen), id(roots), id(stack), id(sys._getframe())}
    del roots, stack, obj
    _held = held
    from array import array

    addresses = array("I", (id(o) for o in held if id(o) not in mine))
    if sys.byteorder != "little":
        addresses.byteswap()
    return addresses.tobytes()


def immortal_done():
    """The host has made the objects :func:`immortal_candidates` named immortal: drop the list that held them
    (releasing an immortal object writes nothing) and freeze what the collector still tracks."""
    global _held
    import gc

    _held = None
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
