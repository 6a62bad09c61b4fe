# The recipe `runtime::bytecode` runs inside Pyodide's own CPython, so every .pyc carries that interpreter's magic
# number. It copies every member of the standard library zip into a tar and adds, next to each .py that compiles,
# `__pycache__/<name>.<cache tag>.pyc` in the unchecked-hash form: the importer trusts it without comparing
# timestamps or hashing the source (the archive is read-only and built from the very sources it holds).
#
# The output must be a function of the zip alone: entries sorted, owners empty, times and modes taken from the zip,
# compiled in a fixed order by an interpreter booted with a fixed hash seed (frozenset constants are marshalled in
# hash order). Changing anything here changes the cache key, because the host hashes this file into it.
import calendar
import importlib.util
import io
import sys
import tarfile
import warnings
import zipfile
from importlib._bootstrap_external import _code_to_hash_pyc


def _entry(name, kind, mode, mtime, data=None):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = mtime
    info.size = 0 if data is None else len(data)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info, data


def _bytecode(source, path):
    """The unchecked-hash .pyc of `source`, or None when it does not compile (test data, grammar fragments)."""
    try:
        with warnings.catch_warnings():
            # Import from source would warn (e.g. invalid escapes) at import time; compiling here is not that.
            warnings.simplefilter("ignore")
            code = compile(source, path, "exec", dont_inherit=True, optimize=0)
    except (SyntaxError, ValueError):
        return None
    return bytes(_code_to_hash_pyc(code, importlib.util.source_hash(source), checked=False))


def build(zip_path, out_path, prefix):
    """Write the tar to `out_path`; print `compiled N` and one `skipped NAME` line per file that did not compile.
    `prefix` is where the tar is mounted, so code objects name the paths tracebacks will show."""
    entries = {}
    compiled = 0
    skipped = []
    with zipfile.ZipFile(zip_path) as zf:
        for member in sorted(zf.infolist(), key=lambda m: m.filename):
            name = member.filename.rstrip("/")
            mtime = calendar.timegm(member.date_time + (0, 0, 0))
            if member.is_dir():
                entries[name] = _entry(name, tarfile.DIRTYPE, 0o755, mtime)
                continue
            data = zf.read(member)
            mode = 0o755 if (member.external_attr >> 16) & 0o111 else 0o644
            entries[name] = _entry(name, tarfile.REGTYPE, mode, mtime, data)
            if not name.endswith(".py"):
                continue
            pyc = _bytecode(data, f"{prefix}/{name}")
            if pyc is None:
                skipped.append(name)
                continue
            pyc_name = importlib.util.cache_from_source(f"{prefix}/{name}").removeprefix(prefix + "/")
            cache_dir = pyc_name.rpartition("/")[0]
            entries.setdefault(cache_dir, _entry(cache_dir, tarfile.DIRTYPE, 0o755, mtime))
            entries[pyc_name] = _entry(pyc_name, tarfile.REGTYPE, 0o644, mtime, pyc)
            compiled += 1
    # A member's directory may be missing from the zip; the tar lists every directory explicitly.
    for name in list(entries):
        parent = name.rpartition("/")[0]
        while parent and parent not in entries:
            entries[parent] = _entry(parent, tarfile.DIRTYPE, 0o755, entries[name][0].mtime)
            parent = parent.rpartition("/")[0]
    _finish(entries, out_path, compiled, skipped, tarfile.USTAR_FORMAT)


def _finish(entries, out_path, compiled, skipped, format):
    """Write `entries` (name -> (TarInfo, data)) to `out_path` in name order, and report to the host:
    `compiled N`, then one `skipped NAME` line per file that did not compile."""
    with open(out_path, "wb") as out, tarfile.open(fileobj=out, mode="w", format=format) as tar:
        for name in sorted(entries):
            info, data = entries[name]
            tar.addfile(info, None if data is None else io.BytesIO(data))
    print(f"compiled {compiled}")
    for name in skipped:
        print(f"skipped {name}")
    sys.stdout.flush()
