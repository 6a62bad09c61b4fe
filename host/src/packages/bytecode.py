# site-packages compiled to bytecode by Pyodide's own CPython, run after `runtime/stdlib_bytecode.py` (whose `_entry`,
# `_bytecode` and `_finish` it uses): every file under the mounted archive copied into a tar, plus an unchecked-hash
# `__pycache__/<name>.<cache tag>.pyc` beside each .py that compiles, so a module a worker imports only while
# serving (FastAPI imports its telemetry runtime on the first request) loads without being compiled in every fresh
# instance. Entries are sorted with fixed metadata, so the same archive gives the same bytes.
import os


def build_tree(root, out_path):
    entries = {}
    compiled = 0
    skipped = []
    for top, dirs, files in os.walk(root):
        dirs.sort()
        rel_top = os.path.relpath(top, root)
        if rel_top != ".":
            entries[rel_top] = _entry(rel_top, tarfile.DIRTYPE, 0o755, 0)
        for name in sorted(files):
            path = os.path.join(top, name)
            rel = os.path.relpath(path, root)
            with open(path, "rb") as f:
                data = f.read()
            mode = 0o755 if os.stat(path).st_mode & 0o111 else 0o644
            entries[rel] = _entry(rel, tarfile.REGTYPE, mode, 0, data)
            if not name.endswith(".py"):
                continue
            pyc = _bytecode(data, path)
            if pyc is None:
                skipped.append(rel)
                continue
            pyc_name = os.path.relpath(importlib.util.cache_from_source(path), root)
            cache_dir = os.path.dirname(pyc_name)
            entries.setdefault(cache_dir, _entry(cache_dir, tarfile.DIRTYPE, 0o755, 0))
            entries[pyc_name] = _entry(pyc_name, tarfile.REGTYPE, 0o644, 0, pyc)
            compiled += 1
    # GNU format: package paths can be longer than ustar allows.
    _finish(entries, out_path, compiled, skipped, tarfile.GNU_FORMAT)
