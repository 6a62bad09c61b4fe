"""Run a callback right after a module executes, without importing it early; refuse modules that cannot work.

The runtime patches or watches a few standard-library modules (asyncio's event loop, ``random``'s seed), but
importing them eagerly would slow every cold start. A meta-path finder wraps the real loader of just those modules.
The same finder answers ``import`` of a module pyworkers cannot run with an ``ImportError`` that says why, instead of
letting its initialisation fail somewhere deep inside.
"""

import sys

_callbacks = {}
_unavailable = {}
_sources = {}
_substitutes = {}


class _Finder:
    def find_spec(self, name, path, target=None):
        reason = _unavailable.get(name)
        if reason is not None:
            raise ImportError(reason, name=name)
        source = _sources.get(name)
        if source is not None:
            import importlib.util

            return importlib.util.spec_from_file_location(name, source)
        substitute = _substitutes.get(name)
        if substitute is not None:
            import importlib.machinery

            return importlib.machinery.ModuleSpec(name, _SubstituteLoader(substitute))
        if not _callbacks.get(name):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None:
            spec.loader = _Loader(spec.loader, name)
        return spec


class _Loader:
    def __init__(self, inner, name):
        self._inner = inner
        self._name = name

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        for callback in list(_callbacks.get(self._name, ())):
            callback(module)

    def __getattr__(self, name):
        return getattr(self._inner, name)


class _SubstituteLoader:
    """Runs ``build(module)`` instead of the module's own code."""

    def __init__(self, build):
        self._build = build

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        self._build(module)


def after_import(name, callback):
    """Call ``callback(module)`` once module ``name`` has executed (at once if it already has)."""
    module = sys.modules.get(name)
    if module is not None:
        callback(module)
        return
    _callbacks.setdefault(name, []).append(callback)
    _install()


def unavailable(name, reason):
    """Make ``import name`` raise ``ImportError(reason)`` (unless it is already imported)."""
    _unavailable[name] = reason
    _install()


def source_instead(name, path):
    """Load module ``name`` from the Python source ``path``, not from the compiled extension beside it (packages
    compiled with mypyc ship both; this host cannot load the extension)."""
    _sources[name] = path
    _install()


def substitute(name, build):
    """Make ``import name`` run ``build(module)`` on a fresh module instead of the module's own code (for a
    package's platform integration that needs JavaScript, which pyworkers replaces with its own)."""
    _substitutes[name] = build
    _install()


def _install():
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


def cancel(name, callback):
    """Forget a callback registered with :func:`after_import` (no error if it already ran or was never set)."""
    callbacks = _callbacks.get(name, [])
    if callback in callbacks:
        callbacks.remove(callback)
