"""Entropy discipline around memory snapshots (workerd's ``topLevelEntropy``).

A snapshot freezes every value computed while it was prepared, and every instance restored from it starts with
the same copy. So while a snapshot is prepared the host serves deterministic entropy (a ChaCha20 stream, see
``host/src/entropy``), and the values the standard library caches from it are replaced once an instance runs for
real. The host drives three calls:

``before_prepare()``
    Before worker code and its imports run. Starts watching ``random`` (to catch import-time draws) and
    ``os.urandom`` (to catch import-time secrets).
``after_prepare(strict=True)``
    After them, before the snapshot is taken. Stops watching, and reports worker code that drew values every
    restored instance would share: a RuntimeError when ``strict``, else a message on stderr.
``restored()``
    In each restored instance, once the host's entropy is live. Replaces what the standard library cached from
    the deterministic stream:

    - ``random``: the module-level generator (``random.seed()``, drawing from the now live ``os.urandom``);
      ``email.generator`` boundaries, ``email.utils.make_msgid``, ``imaplib`` tags and ``uuid1`` clock sequences
      all draw from it, so they follow.
    - ``tempfile``: the random name sequence, recreated (and seeded) on next use.
    - ``uuid``: the random node id ``uuid1``/``uuid6`` fall back to, and ``uuid7``'s random counter.
    - ``multiprocessing.process``: the main process's ``authkey``.
    - ``numpy.random`` (not stdlib, but the common case): the legacy global ``RandomState``.

    ``secrets``, ``random.SystemRandom``, ``uuid.uuid4`` and ``hashlib``/``hmac`` hold no state: they read
    ``os.urandom`` on every call. Two things cannot be replaced: CPython's string-hash secret (fixed at interpreter
    start-up; every instance of one snapshot shares it, as in workerd) and values worker code computed and kept —
    which is what the ``os.urandom`` check reports.

``restored()`` only touches modules that are already imported: it runs before every instance's first request and
must stay fast.
"""

import os
import sys

from . import importhook

# The real os.urandom, as it was before any preparation: restored by after_prepare().
_urandom = os.urandom
_preparing = False
# `random`'s module-level generator state when preparation first saw the module: right after its import, or at
# before_prepare() if it was already imported. None: not seen.
_random_baseline = None
# Where worker code called os.urandom while preparing ("file:line").
_urandom_calls = []

# Immediate callers whose os.urandom draws restored() replaces, so they are not reported.
_REPLACED_DRAWS = {
    ("uuid", "_random_getnode"),
    ("multiprocessing.process", "__init__"),
}
# Functions of widely used packages that draw from os.urandom at import time to make identifiers that only have to
# be unique within the process, never secret: every instance sharing them is harmless, so they are not reported.
# (`opentelemetry.context.create_key`: `keyname-<uuid4>` keys for context variables; FastAPI imports it.)
_IDENTIFIER_DRAWS = {
    ("opentelemetry.context", "create_key"),
}
# Code of the runtime and the standard library: a report names the first frame outside it.
_LIBRARY_PREFIXES = ("/lib/python314.zip", "/lib/python3.14", "/lib/pyworkers")

_RANDOM_DREW = (
    "worker code drew from `random` at import time; every instance restored from this snapshot would share "
    "those values. Call `random` functions inside handlers (or use `random.Random(seed)` for a deliberate, "
    "reproducible sequence)."
)


def _guarded_urandom(size, /):
    if _preparing:
        _note_urandom_call(sys._getframe(1))
    return _urandom(size)


_guarded_urandom.__name__ = "urandom"
_guarded_urandom.__qualname__ = "urandom"
_guarded_urandom.__doc__ = _urandom.__doc__


def _note_urandom_call(caller):
    if (caller.f_globals.get("__name__"), caller.f_code.co_name) in _REPLACED_DRAWS:
        return
    frame = caller
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARY_PREFIXES):
        frame = frame.f_back
    frame = frame or caller
    if (frame.f_globals.get("__name__"), frame.f_code.co_name) in _IDENTIFIER_DRAWS:
        return
    _urandom_calls.append(f"{frame.f_code.co_filename}:{frame.f_lineno}")


def _record_random(module):
    global _random_baseline
    if _random_baseline is None:
        _random_baseline = module._inst.getstate()


def before_prepare():
    """Start watching: call before the code a snapshot will capture runs."""
    global _preparing, _random_baseline
    _preparing = True
    _random_baseline = None
    _urandom_calls.clear()
    random = sys.modules.get("random")
    if random is not None:
        random._urandom = _guarded_urandom
    importhook.after_import("random", _record_random)
    os.urandom = _guarded_urandom


def after_prepare(strict=True):
    """Stop watching and report worker code that drew shared values while preparing.

    Raises RuntimeError when ``strict``; otherwise prints the problems to stderr and returns them (a list of
    messages, empty when there are none).
    """
    global _preparing
    _preparing = False
    importhook.cancel("random", _record_random)
    os.urandom = _urandom
    # Modules that bound os.urandom while it was guarded (random's SystemRandom, urllib.request) get the real one
    # back; anything else that did keeps a wrapper that now only passes through.
    for name, attr in (("random", "_urandom"), ("urllib.request", "_randombytes")):
        module = sys.modules.get(name)
        if module is not None and getattr(module, attr, None) is _guarded_urandom:
            setattr(module, attr, _urandom)

    problems = []
    random = sys.modules.get("random")
    if random is not None and _random_baseline is not None and random._inst.getstate() != _random_baseline:
        problems.append(_RANDOM_DREW)
    if _urandom_calls:
        where = ", ".join(dict.fromkeys(_urandom_calls))
        problems.append(
            f"worker code drew from `os.urandom` at import time ({len(_urandom_calls)} call(s), at {where}); "
            "every instance restored from this snapshot would share those bytes. Generate secrets and ids "
            "(`secrets`, `uuid.uuid4`, `os.urandom`) inside handlers."
        )
    if problems and strict:
        raise RuntimeError("\n".join(problems))
    for problem in problems:
        print(f"pyworkers: warning: {problem}", file=sys.stderr)
    return problems


def restored():
    """Replace what the standard library cached from the deterministic stream; see the module docstring."""
    modules = sys.modules

    random = modules.get("random")
    if random is not None:
        # 256 bits of fresh OS entropy: as unpredictable as `seed()`'s 2,496 bytes for a generator that is not
        # cryptographic anyway, and much cheaper on every instance's start.
        random.seed(int.from_bytes(_urandom(32), "little"))

    tempfile = modules.get("tempfile")
    if tempfile is not None:
        tempfile._name_sequence = None

    uuid = modules.get("uuid")
    if uuid is not None:
        if hasattr(uuid, "_node"):
            uuid._node = None
        if hasattr(uuid, "_last_timestamp_v7"):
            uuid._last_timestamp_v7 = None
            uuid._last_counter_v7 = 0

    process = modules.get("multiprocessing.process")
    if process is not None:
        process.current_process().authkey = _urandom(32)

    np_random = modules.get("numpy.random")
    if np_random is not None and hasattr(np_random, "seed"):
        np_random.seed()
