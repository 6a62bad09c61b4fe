"""Durable Objects, as Cloudflare documents them: ``DurableObject`` (``self.ctx``, ``self.env``), the namespace on
``env`` (``id_from_name``, ``new_unique_id``, ``id_from_string``, ``get``, ``get_by_name``), stubs whose methods
run on the object, and ``ctx.storage`` (key-value, and ``sql`` for ``new_sqlite_classes``).

The design (where an object lives, one call at a time, storage) is written down in the host's
``serve/bindings/durable``. Here: stub calls go out through the reactor's outbox (``_pyworkers.entrypoint``), as
``fetch`` does, so the caller's instance keeps serving while the object works; ids and storage are blocking frames
on ``/dev/pyworkers``, answered at once.

Values crossing to an object (arguments, results) are ``None``, ``bool``, ``int``, ``float``, ``str``, ``bytes``,
``list``, ``tuple`` and ``dict`` (subclasses are sent as their base type; ``pyodide.ffi.to_js`` returns its argument
here, so wrapped values are plain ones). Stored values are JSON values, or ``bytes``; tuples come back as lists.
"""

import builtins
import json as _json
import marshal

from _pyworkers import entrypoint as _reactor

from ._bindings import DurableObjectError, _bindable, _call
from ._messages import Request, Response

_SCALARS = frozenset((type(None), bool, int, float, str, bytes))
_MISSING = object()
_MAX_DEPTH = 64


def _plain(value, depth=0):
    """``value`` as the plain data that may cross to another instance, or TypeError."""
    t = type(value)
    if t in _SCALARS:
        return value
    if depth > _MAX_DEPTH:
        raise ValueError(f"a value sent to a Durable Object is nested more than {_MAX_DEPTH} levels deep")
    if t is list or t is tuple:
        return t(_plain(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in value.items()}
    for base in (bool, int, float, str, list, tuple):
        if isinstance(value, base):
            return _plain(base(value), depth)
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(
        f"{t.__name__} cannot be sent to or from a Durable Object: "
        "send None, bool, int, float, str, bytes, list, tuple or dict"
    )


def _encode_call(args, kwargs):
    return marshal.dumps((_plain(args), _plain(kwargs) if kwargs else None))


def _encode_result(value):
    return marshal.dumps(_plain(value))


def _remote_error(kind, message):
    """The exception a failed call raises in the caller."""
    if kind == "exception":
        name, sep, text = message.partition(": ")
        cls = getattr(builtins, name, None)
        if (
            isinstance(cls, type)
            and issubclass(cls, Exception)
            and not issubclass(cls, BaseExceptionGroup)
        ):
            try:
                return cls(text if sep else "")
            except Exception:
                pass
        # The object's own DurableObjectError (a failed call of its own, say) passes on as it is.
        error = DurableObjectError(text if name == "workers.DurableObjectError" else message)
        error.remote_type = name
        return error
    if kind == "timeout":
        return TimeoutError(message)
    return DurableObjectError(message)


# --- ids, namespaces, stubs ----------------------------------------------------------------------------------


class DurableObjectId:
    """An object's id: ``str(id)`` is its 64 hex digits; ``.name`` is the name it was made from (or None)."""

    __slots__ = ("_binding", "_hex", "name")

    def __init__(self, binding, hex=None, name=None):
        self._binding = binding
        self._hex = hex
        self.name = name

    def __str__(self):
        if self._hex is None:
            self._hex = _call("do.id_from_name", self._binding, self.name)
        return self._hex

    def to_string(self):
        return str(self)

    toString = to_string

    def equals(self, other):
        return isinstance(other, DurableObjectId) and str(self) == str(other)

    __eq__ = equals

    def __hash__(self):
        return hash(str(self))

    def __repr__(self):
        if self.name is not None:
            return f"DurableObjectId(name={self.name!r})"
        return f"DurableObjectId({self._hex!r})"


class DurableObjectNamespace:
    """A ``durable_objects.bindings`` entry on ``env``."""

    __slots__ = ("_binding",)

    def __init__(self, binding):
        self._binding = binding

    def id_from_name(self, name):
        """The id of the object called ``name``: the same name always gives the same object."""
        return DurableObjectId(self._binding, name=str(name))

    def new_unique_id(self, **options):
        """A new id, of an object nobody has used yet."""
        return DurableObjectId(self._binding, _call("do.new_id", self._binding))

    def id_from_string(self, text):
        """The id whose ``str()`` is ``text``; ValueError if it is not an id of this namespace."""
        return DurableObjectId(self._binding, _call("do.check_id", self._binding, str(text)))

    def get(self, id, **options):
        """A stub for the object ``id``: ``await stub.method(...)``, ``await stub.fetch(request)``."""
        if not isinstance(id, DurableObjectId):
            raise TypeError(f"get() takes a DurableObjectId (from id_from_name, new_unique_id or id_from_string), not {type(id).__name__}")
        if id._binding != self._binding:
            # Another binding's id: route it by its hex digits, which the host checks against this namespace.
            id = DurableObjectId(self._binding, str(id), id.name)
        return DurableObjectStub(self._binding, id)

    def get_by_name(self, name, **options):
        """``get(id_from_name(name))``."""
        return DurableObjectStub(self._binding, DurableObjectId(self._binding, name=str(name)))

    def jurisdiction(self, name):
        """Accepted for compatibility: there is one place here."""
        return self

    idFromName = id_from_name
    newUniqueId = new_unique_id
    idFromString = id_from_string
    getByName = get_by_name

    def __repr__(self):
        return f"DurableObjectNamespace({self._binding!r})"


class DurableObjectStub:
    """Calls on one object. ``await stub.NAME(*args, **kwargs)`` runs its method ``NAME`` there and returns what it
    returned (an exception it raised is raised here); ``await stub.fetch(request_or_url)`` calls its ``fetch``."""

    __slots__ = ("_binding", "id", "name")

    def __init__(self, binding, id):
        self._binding = binding
        self.id = id
        self.name = id.name

    def _send(self, target):
        return _reactor.start_call(self._binding, self.id._hex, self.id.name, target)

    async def fetch(self, request, **init):
        if not isinstance(request, Request) or init:
            request = Request(request, **init)
        answer = await self._send(("fetch", request.method, request.url, request.headers._list, request._body))
        _, status, headers, body = answer
        return Response._from_host(status, headers, body, request.url)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)

        async def call(*args, **kwargs):
            answer = await self._send(("method", name, _encode_call(args, kwargs)))
            return marshal.loads(answer[1])

        call.__name__ = call.__qualname__ = name
        return call

    def __repr__(self):
        return f"DurableObjectStub({self._binding!r}, {self.id!r})"


# --- inside the object ---------------------------------------------------------------------------------------


class DurableObject:
    """Base class of a Durable Object. ``__init__(self, ctx, env)`` (call ``super().__init__(ctx, env)``) runs once
    per instance of the object, before its first call; ``self.ctx`` has ``id`` and ``storage``; define ``async def``
    or plain methods for RPC, and ``fetch(self, request)`` for ``stub.fetch``."""

    def __init__(self, ctx, env):
        self.ctx = ctx
        self.env = env


class DurableObjectState:
    """An object's ``ctx``: ``id``, ``storage``, ``wait_until``, ``block_concurrency_while``."""

    __slots__ = ("id", "storage")

    def __init__(self, id, storage):
        self.id = id
        self.storage = storage

    def wait_until(self, awaitable):
        """Run ``awaitable`` alongside; the object is not evicted before it is done."""
        _reactor.spawn(awaitable)

    def block_concurrency_while(self, callback):
        """Run ``callback()`` (async or not); no call reaches the object until it is done. Typical in ``__init__``
        to load state. Returns an awaitable of its result."""
        return _reactor.hold(callback())

    waitUntil = wait_until
    blockConcurrencyWhile = block_concurrency_while


def _encode_value(value):
    if isinstance(value, (bytes, bytearray, memoryview)):
        return 1, bytes(value)
    try:
        return 0, _json.dumps(value, separators=(",", ":")).encode()
    except TypeError as exc:
        raise TypeError(f"Durable Object storage keeps JSON values and bytes: {exc}") from None


def _decode_value(stored):
    if stored is None:
        return None
    kind, data = stored
    return data if kind == 1 else _json.loads(data)


def _key(key):
    if not isinstance(key, str):
        raise TypeError(f"Durable Object storage keys are str, not {type(key).__name__}")
    return key


class DurableObjectStorage:
    """``ctx.storage``: ``await get/put/delete/delete_all/list``, ``sql`` (``new_sqlite_classes``),
    ``transaction_sync(fn)`` and ``await transaction(fn)``. Every write is durable when its ``await`` returns."""

    __slots__ = ("_sql",)

    def __init__(self, sqlite):
        self._sql = SqlStorage() if sqlite else None

    @property
    def sql(self):
        """The object's SQL database: ``exec(query, *bindings)``."""
        if self._sql is None:
            raise DurableObjectError(
                "this Durable Object class has no SQL storage: declare it in a migration's new_sqlite_classes"
            )
        return self._sql

    async def get(self, keys, **options):
        """The value of a key (None when missing), or for a list of keys a dict of those that exist."""
        if isinstance(keys, str):
            return _decode_value(_call("storage.get", [keys])[0])
        keys = [_key(k) for k in keys]
        found = _call("storage.get", keys)
        return {k: _decode_value(v) for k, v in zip(keys, found) if v is not None}

    async def put(self, key, value=_MISSING, **options):
        """``put(key, value)``, or ``put({key: value, ...})`` (all or none)."""
        if value is _MISSING:
            if not isinstance(key, dict):
                raise TypeError("put() takes a key and a value, or a dict of them")
            entries = [(_key(k), *_encode_value(v)) for k, v in key.items()]
        else:
            entries = [(_key(key), *_encode_value(value))]
        _call("storage.put", entries)

    async def delete(self, keys, **options):
        """Remove a key (whether it existed), or a list of keys (how many existed)."""
        if isinstance(keys, str):
            return _call("storage.delete", [keys]) > 0
        return _call("storage.delete", [_key(k) for k in keys])

    async def delete_all(self, **options):
        """Remove every key and, for a SQLite-backed object, every table."""
        _call("storage.delete_all")

    async def list(self, prefix=None, start=None, end=None, limit=None, reverse=False, start_after=None, **options):
        """Keys in order with their values, as a dict: those starting with ``prefix``, from ``start`` (inclusive) or
        after ``start_after``, to ``end`` (exclusive), at most ``limit``, descending when ``reverse``."""
        start_after = options.get("startAfter", start_after)
        if start_after is not None:
            # The smallest key after start_after.
            start = _key(start_after) + "\x00"
        if limit is not None and (type(limit) is not int or limit < 1):
            raise ValueError("list() limit must be a positive int")
        rows = _call("storage.list", prefix, start, end, limit, bool(reverse))
        return {k: _decode_value((kind, data)) for k, kind, data in rows}

    def transaction_sync(self, fn):
        """Run ``fn()``: everything it stores (SQL included) commits when it returns, none of it when it raises."""
        _call("storage.transaction", "begin")
        try:
            result = fn()
        except BaseException:
            _call("storage.transaction", "rollback")
            raise
        _call("storage.transaction", "commit")
        return result

    async def transaction(self, closure):
        """``await transaction(async_fn)``: ``async_fn(txn)`` runs in a transaction (``txn`` is this storage, with
        ``rollback()``); it commits when the function returns, unless it raised or called ``txn.rollback()``."""
        txn = _Transaction(self)
        _call("storage.transaction", "begin")
        try:
            result = closure(txn)
            if hasattr(result, "__await__"):
                result = await result
        except BaseException:
            _call("storage.transaction", "rollback")
            raise
        _call("storage.transaction", "rollback" if txn._rolled_back else "commit")
        return result

    async def sync(self):
        """Writes are durable when awaited already; nothing to wait for."""

    async def get_alarm(self, **options):
        raise NotImplementedError("Durable Object alarms are not supported by pyworkers yet")

    set_alarm = delete_alarm = get_alarm
    deleteAll = delete_all
    transactionSync = transaction_sync
    getAlarm = setAlarm = deleteAlarm = get_alarm


class _Transaction:
    """The ``txn`` of ``storage.transaction``: the storage's methods, and ``rollback()``."""

    def __init__(self, storage):
        self._storage = storage
        self._rolled_back = False

    def rollback(self):
        self._rolled_back = True

    def __getattr__(self, name):
        return getattr(self._storage, name)


class SqlStorage:
    """``ctx.storage.sql``: ``exec(query, *bindings)`` runs SQL on the object's own database."""

    __slots__ = ()

    def exec(self, query, *bindings):
        """Run ``query`` (statements separated by ``;``; ``bindings`` fill the ``?`` of the last one, whose rows
        the cursor holds). Values are always bound, never spliced into the SQL."""
        params = [_bindable(b, TypeError, "") for b in bindings]
        columns, rows, read, written = _call("storage.sql", query, params)
        return SqlStorageCursor(columns, rows, read, written)

    @property
    def database_size(self):
        """Bytes the object's database takes."""
        return _call("storage.size")

    databaseSize = database_size


class SqlStorageCursor:
    """The rows of ``sql.exec``: iterate for dicts; ``to_array()``, ``one()``, ``raw()``, ``column_names``,
    ``rows_read``, ``rows_written``."""

    __slots__ = ("column_names", "rows_read", "rows_written", "_rows", "_at")

    def __init__(self, columns, rows, rows_read, rows_written):
        self.column_names = list(columns)
        self.rows_read = rows_read
        self.rows_written = rows_written
        self._rows = rows
        self._at = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self._at >= len(self._rows):
            raise StopIteration
        row = self._rows[self._at]
        self._at += 1
        return dict(zip(self.column_names, row))

    def next(self):
        """Cloudflare's iterator protocol: ``{"done": bool, "value": row}``."""
        try:
            return {"done": False, "value": next(self)}
        except StopIteration:
            return {"done": True}

    def to_array(self):
        """The rows not read yet, as a list of dicts."""
        return list(self)

    def one(self):
        """The only row; an error when there are none or several."""
        rows = self.to_array()
        if len(rows) != 1:
            raise DurableObjectError(
                "Expected exactly one result from SQL query, but got "
                + ("no results." if not rows else "more than one result.")
            )
        return rows[0]

    def raw(self):
        """The rows not read yet, each as a list of values."""
        rows, self._at = self._rows[self._at :], len(self._rows)
        return iter([list(r) for r in rows])

    toArray = to_array

    @property
    def columnNames(self):
        return self.column_names

    @property
    def rowsRead(self):
        return self.rows_read

    @property
    def rowsWritten(self):
        return self.rows_written


def make_object(spec, env):
    """The object an object's instance is: its class from the worker module, made with its ``ctx`` and ``env``."""
    import sys

    module = sys.modules.get(_reactor.module_name())
    cls = getattr(module, spec["class"], None)
    if not isinstance(cls, type):
        raise TypeError(
            f"the worker module defines no class {spec['class']!r} (durable_objects.bindings class_name)"
        )
    ctx = DurableObjectState(
        DurableObjectId(spec["binding"], spec["id"], spec["name"]), DurableObjectStorage(spec["sqlite"])
    )
    return cls(ctx, env)


__all__ = [
    "DurableObject",
    "DurableObjectError",
    "DurableObjectId",
    "DurableObjectNamespace",
    "DurableObjectState",
    "DurableObjectStorage",
    "DurableObjectStub",
    "SqlStorage",
    "SqlStorageCursor",
]
