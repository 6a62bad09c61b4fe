"""``env`` bindings backed by the host's embedded database: KV namespaces, D1 databases, queues and static assets
(Durable Objects are in ``_durable``).

Each call is one blocking frame on ``/dev/pyworkers`` (see ``_pyworkers.hostcall``); local SQLite answers in
microseconds, so the host serves it at once. The methods are ``async def`` all the same, because Cloudflare's are:
handlers ``await`` them.
"""

import json as _json
import marshal
import time

from _pyworkers import hostcall


class KVError(Exception):
    """A KV operation the host refused (a bad key, a store error)."""


class D1Error(Exception):
    """A D1 statement failed; the message is SQLite's, prefixed ``D1_ERROR:`` as Cloudflare's is."""


class DurableObjectError(Exception):
    """A Durable Object call or storage operation failed: the object raised an exception that is not a builtin
    one (the message starts with its type; ``remote_type`` names it), the call could not be delivered, or the
    storage refused (SQLite's message)."""


DurableObjectError.__module__ = "workers"


def _call(*frame):
    ok, value = marshal.loads(hostcall.call(marshal.dumps(frame, 2)))
    if ok:
        return value
    kind, message = value
    if kind == "kv":
        raise KVError(message)
    if kind == "d1":
        raise D1Error(f"D1_ERROR: {message}")
    if kind == "storage":
        raise DurableObjectError(message)
    if kind == "value":
        raise ValueError(message)
    raise hostcall.error(kind, message)


def _to_bytes(value):
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"KV values are str or bytes, not {type(value).__name__}")


class KVNamespace:
    """A KV namespace (``kv_namespaces`` in the config)."""

    __slots__ = ("_binding",)

    def __init__(self, binding):
        self._binding = binding

    def _decode(self, raw, type):
        if type in ("text", None):
            return raw.decode()
        if type == "json":
            return _json.loads(raw)
        if type in ("bytes", "arrayBuffer", "stream"):
            return raw
        raise ValueError(f'type must be "text", "json", "bytes" or "arrayBuffer", not {type!r}')

    async def get(self, key, type="text", **options):
        """The value of ``key`` (decoded as ``type`` says), or None when it is missing or expired."""
        found = _call("kv.get", self._binding, str(key))
        return None if found is None else self._decode(found[0], type)

    async def get_with_metadata(self, key, type="text", **options):
        """``{"value": ..., "metadata": ...}``; both None when the key is missing."""
        found = _call("kv.get", self._binding, str(key))
        if found is None:
            return {"value": None, "metadata": None}
        raw, metadata = found
        return {"value": self._decode(raw, type), "metadata": None if metadata is None else _json.loads(metadata)}

    getWithMetadata = get_with_metadata

    async def put(self, key, value, expiration=None, expiration_ttl=None, metadata=None, **options):
        """Store ``value`` (str or bytes) under ``key``; ``expiration`` (seconds since the epoch) or
        ``expiration_ttl`` (seconds from now, at least 60 as on Cloudflare) make it expire."""
        expiration_ttl = expiration_ttl if expiration_ttl is not None else options.get("expirationTtl")
        if expiration_ttl is not None:
            if expiration_ttl < 60:
                raise KVError("expiration_ttl must be at least 60 seconds")
            expiration = int(time.time()) + int(expiration_ttl)
        elif expiration is not None:
            expiration = int(expiration)
            if expiration < time.time() + 60:
                raise KVError("expiration must be at least 60 seconds in the future")
        meta = None if metadata is None else _json.dumps(metadata)
        _call("kv.put", self._binding, str(key), _to_bytes(value), expiration, meta)

    async def delete(self, key):
        """Remove ``key`` (a missing key is not an error)."""
        _call("kv.delete", self._binding, str(key))

    async def list(self, prefix=None, limit=None, cursor=None, **options):
        """Keys in order: an object with ``keys`` (dicts with ``name``, and ``expiration``/``metadata`` when set),
        ``list_complete`` and ``cursor`` (pass it back for the next page)."""
        keys, complete, next_cursor = _call("kv.list", self._binding, prefix, limit, cursor)
        out = []
        for name, expiration, metadata in keys:
            key = {"name": name}
            if expiration is not None:
                key["expiration"] = expiration
            if metadata is not None:
                key["metadata"] = _json.loads(metadata)
            out.append(key)
        return KVListResult(out, complete, next_cursor)

    def __repr__(self):
        return f"KVNamespace({self._binding!r})"


class KVListResult(dict):
    """What ``list`` returns: ``.keys``/``["keys"]``, ``.list_complete``, ``.cursor`` (None on the last page)."""

    def __init__(self, keys, list_complete, cursor):
        super().__init__(keys=keys, list_complete=list_complete, cursor=cursor)

    def __getattr__(self, name):
        if name == "listComplete":
            name = "list_complete"
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def keys(self):
        return self["keys"]


class D1Meta(dict):
    """``meta`` of a D1 result: ``changes``, ``last_row_id``, ``duration`` (ms), ``rows_read``, ``rows_written``."""

    __getattr__ = dict.get


class D1Result:
    """A statement's result: ``results`` (a list of dicts), ``success``, ``meta``."""

    __slots__ = ("results", "success", "meta")

    def __init__(self, results, meta):
        self.results = results
        self.success = True
        self.meta = meta

    def __repr__(self):
        return f"D1Result({len(self.results)} rows, meta={dict(self.meta)!r})"


def _meta(changes, last_row_id, duration, rows_read):
    return D1Meta(
        changes=changes,
        last_row_id=last_row_id,
        duration=duration,
        rows_read=rows_read,
        rows_written=changes,
        changed_db=changes > 0,
    )


def _row(row):
    """A row's values as Cloudflare hands them to Python: a BLOB is a list of ints (D1 gives JavaScript
    ``Array.from(bytes)``, which reaches Python as a list)."""
    return [list(v) if type(v) is bytes else v for v in row]


def _result(outcome):
    columns, rows, changes, last_row_id, duration, rows_read = outcome
    return D1Result([dict(zip(columns, _row(row))) for row in rows], _meta(changes, last_row_id, duration, rows_read))


def _bindable(value, error=D1Error, prefix="D1_TYPE_ERROR: "):
    """``value`` as SQL can bind it; else ``error`` (its message after ``prefix``)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise error(f"{prefix}type {type(value).__name__!r} is not supported (bind None, bool, int, float, str, bytes)")


class D1PreparedStatement:
    """``db.prepare(sql)``; ``bind(*values)`` returns a new statement with the values bound (never spliced)."""

    __slots__ = ("_db", "_sql", "_params")

    def __init__(self, db, sql, params=()):
        self._db = db
        self._sql = sql
        self._params = params

    def bind(self, *values):
        return D1PreparedStatement(self._db, self._sql, tuple(_bindable(v) for v in values))

    def _run(self):
        return _call("d1.query", self._db._binding, self._sql, list(self._params))

    async def all(self):
        """Every row: a :class:`D1Result`."""
        return _result(self._run())

    async def run(self):
        """Run it: a :class:`D1Result` (``meta.changes``, ``meta.last_row_id``)."""
        return _result(self._run())

    async def first(self, column=None):
        """The first row as a dict (None when there is none), or that row's ``column``."""
        columns, rows, *_ = self._run()
        if not rows:
            return None
        row = dict(zip(columns, _row(rows[0])))
        if column is None:
            return row
        if column not in row:
            raise D1Error(f"D1_COLUMN_NOTFOUND: Column not found ({column})")
        return row[column]

    async def raw(self, column_names=False, **options):
        """The rows as lists; with ``column_names=True`` the first list is the column names."""
        columns, rows, *_ = self._run()
        if column_names or options.get("columnNames"):
            return [list(columns)] + [_row(r) for r in rows]
        return [_row(r) for r in rows]


class D1Database:
    """A D1 database (``d1_databases`` in the config)."""

    __slots__ = ("_binding",)

    def __init__(self, binding):
        self._binding = binding

    def prepare(self, sql):
        return D1PreparedStatement(self, sql)

    async def batch(self, statements):
        """Run prepared statements in one transaction: a list of :class:`D1Result`; if one fails, none applies."""
        frames = [(s._sql, list(s._params)) for s in statements]
        return [_result(o) for o in _call("d1.batch", self._binding, frames)]

    async def exec(self, sql):
        """Run ``sql`` (statements separated by ``;``, nothing bound): ``{"count": n, "duration": ms}``."""
        count, duration = _call("d1.exec", self._binding, sql)
        return D1Meta(count=count, duration=duration)

    def __repr__(self):
        return f"D1Database({self._binding!r})"


class Assets:
    """The ``assets.binding``: ``await env.ASSETS.fetch(request_or_url)`` answers from the static files."""

    __slots__ = ("_binding",)

    def __init__(self, binding):
        self._binding = binding

    async def fetch(self, request, **init):
        from ._messages import FetchResponse, Request, Response

        if isinstance(request, str):
            method, url, headers = init.get("method", "GET"), request, {}
        else:
            method, url, headers = request.method, request.url, request.headers
        get = getattr(headers, "get", None)
        inm = get("if-none-match") if get else None
        navigate = (get("sec-fetch-mode") if get else None) == "navigate"
        status, headers, body = _call("assets.fetch", self._binding, method, url, inm, navigate)
        return Response(body if status != 304 else None, status=status, headers=headers)

    def __repr__(self):
        return f"Assets({self._binding!r})"


class Queue:
    """A queue producer (``queues.producers``): ``await env.Q.send(body)``, ``await env.Q.send_batch([...])``.
    Bodies are JSON values; once the call returns the messages are stored durably."""

    __slots__ = ("_binding",)

    def __init__(self, binding):
        self._binding = binding

    async def send(self, body, content_type="json", delay_seconds=0, **options):
        delay = options.get("delaySeconds", delay_seconds)
        _call("queue.send", self._binding, [_json.dumps(body).encode()], delay)

    async def send_batch(self, messages, delay_seconds=0, **options):
        """``messages``: a list of ``{"body": ...}`` (as Cloudflare's ``sendBatch``)."""
        delay = options.get("delaySeconds", delay_seconds)
        bodies = [_json.dumps(m["body"] if isinstance(m, dict) else m).encode() for m in messages]
        _call("queue.send", self._binding, bodies, delay)

    sendBatch = send_batch

    def __repr__(self):
        return f"Queue({self._binding!r})"


def make(descriptors):
    """``{name: kind}`` from the host → ``{name: binding object}``."""
    from ._durable import DurableObjectNamespace

    kinds = {"kv": KVNamespace, "d1": D1Database, "assets": Assets, "queue": Queue, "durable_object": DurableObjectNamespace}
    return {name: kinds[kind](name) for name, kind in (descriptors or {}).items() if kind in kinds}
