"""Exercises Durable Objects for tests/all/bindings.rs: each path calls one object (``?name=``, default "main")."""

import asyncio
from urllib.parse import parse_qs, urlsplit

from pyodide.ffi import to_js
from workers import DurableObject, DurableObjectError, Response, WorkerEntrypoint


class Oops(Exception):
    pass


class Counter(DurableObject):
    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        self.calls = 0
        self.inside = 0
        self.loaded = None
        ctx.block_concurrency_while(self.load)

    async def load(self):
        # Really suspends: the first call must still wait for it.
        await asyncio.sleep(0.01)
        self.loaded = await self.ctx.storage.get("count") or 0

    def loaded_value(self):
        return self.loaded

    async def increment(self):
        # Read, wait, write: another call interleaving here would lose an update.
        self.inside += 1
        overlap = self.inside > 1
        value = await self.ctx.storage.get("count") or 0
        await asyncio.sleep(0.002)
        await self.ctx.storage.put("count", value + 1)
        self.inside -= 1
        return {"count": value + 1, "overlap": overlap}

    def calls_so_far(self):
        self.calls += 1
        return self.calls

    def echo(self, *args, **kwargs):
        return {"args": args, "kwargs": kwargs}

    def whoami(self):
        return {"id": str(self.ctx.id), "name": self.ctx.id.name, "class": type(self).__name__}

    async def fail(self, kind):
        if kind == "value":
            raise ValueError("bad value 42")
        raise Oops("custom failure")

    async def call_self(self, n):
        if n == 0:
            return "bottom"
        return f"{n}>" + await self.env.COUNTER.get(self.ctx.id).call_self(n - 1)

    async def ping_pong(self, other, n):
        if n == 0:
            return [self.ctx.id.name]
        return [self.ctx.id.name] + await self.env.COUNTER.get_by_name(other).ping_pong(self.ctx.id.name, n - 1)

    async def storage_tour(self):
        s = self.ctx.storage
        await s.delete_all()
        await s.put("a", 1)
        await s.put({"b": [1, 2], "c": {"x": None}, "d": b"\x00\x01", "e": "text", "ab": (3, 4)})
        out = {
            "a": await s.get("a"),
            "many": await s.get(["a", "b", "missing"]),
            "bytes": list(await s.get("d")),
            "tuple": await s.get("ab"),
            "missing": await s.get("nope"),
            "all": list(await s.list()),
            "prefix": list(await s.list(prefix="a")),
            "range": list(await s.list(start="ab", end="d")),
            "after": list(await s.list(start_after="b", limit=2)),
            "reverse": list(await s.list(reverse=True, limit=2)),
            "values": await s.list(prefix="c"),
            "deleted_one": await s.delete("a"),
            "deleted_missing": await s.delete("a"),
            "deleted_many": await s.delete(["b", "c", "nope"]),
        }
        out["left"] = list(await s.list())
        try:
            await s.put("bad", object())
        except TypeError as e:
            out["unstorable"] = str(e)

        async def undone(txn):
            await txn.put("t1", 1)
            txn.rollback()

        async def kept(txn):
            await txn.put("t2", 2)

        await s.transaction(undone)
        await s.transaction(kept)
        out["transactions"] = await s.get(["t1", "t2"])
        await s.delete_all()
        out["after_delete_all"] = list(await s.list())
        return out

    def sql_tour(self):
        sql = self.ctx.storage.sql
        sql.exec("DROP TABLE IF EXISTS t; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL)")
        c = sql.exec("INSERT INTO t (name, score) VALUES (?, ?), (?, ?)", "a'); DROP TABLE t; --", 1.5, "b", None)
        out = {"written": c.rows_written}
        c = sql.exec("SELECT * FROM t ORDER BY id")
        out["columns"] = c.column_names
        out["rows"] = c.to_array()
        out["read"] = c.rows_read
        out["one"] = sql.exec("SELECT name FROM t WHERE id = ?", 2).one()
        out["iter"] = [row["id"] for row in sql.exec("SELECT id FROM t ORDER BY id")]
        out["raw"] = list(sql.exec("SELECT id, name FROM t ORDER BY id").raw())
        out["size"] = sql.database_size > 0
        for bad in ["SELECT * FROM _cf_KV", "ATTACH DATABASE 'x.db' AS x", "BEGIN", "PRAGMA synchronous=OFF", "SELEC 1"]:
            try:
                sql.exec(bad)
                out[bad] = "allowed"
            except DurableObjectError as e:
                out[bad] = str(e)
        try:
            sql.exec("SELECT 1 WHERE 0").one()
        except DurableObjectError as e:
            out["one_of_none"] = str(e)

        def failing():
            sql.exec("INSERT INTO t (name) VALUES ('rolled back')")
            raise ZeroDivisionError("undo")

        try:
            self.ctx.storage.transaction_sync(failing)
        except ZeroDivisionError:
            pass
        out["after_rollback"] = sql.exec("SELECT count(*) AS n FROM t").one()["n"]
        return out

    async def fetch(self, request):
        path = urlsplit(request.url).path
        body = await request.text()
        return Response(f"{request.method} {path} in {self.ctx.id.name}: {body}", status=202, headers={"x-object": "counter"})


class Plain(DurableObject):
    async def remember(self, value):
        await self.ctx.storage.put("v", value)
        return await self.ctx.storage.get("v")

    def try_sql(self):
        try:
            self.ctx.storage.sql
            return "allowed"
        except DurableObjectError as e:
            return str(e)


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlsplit(request.url)
        query = parse_qs(url.query)
        name = query.get("name", ["main"])[0]
        stub = self.env.COUNTER.get_by_name(name)
        path = url.path
        if path == "/increment":
            return Response.json(await stub.increment())
        if path == "/loaded":
            return Response.json(await stub.loaded_value())
        if path == "/calls":
            return Response.json(await stub.calls_so_far())
        if path == "/whoami":
            return Response.json(await stub.whoami())
        if path == "/echo":
            got = await stub.echo(1, "two", b"\x03", [4, (5, 6)], {"k": None}, to_js({"js": True}), big=2**70, f=1.5)
            try:
                await stub.echo(object())
                unsendable = "sent"
            except TypeError as e:
                unsendable = str(e)
            return Response.json({"repr": repr(got), "unsendable": unsendable})
        if path == "/fetch":
            r = await stub.fetch("http://object/hello", method="POST", body="payload")
            return Response(f"{r.status} {r.headers.get('x-object')} {await r.text()}")
        if path == "/fail":
            try:
                await stub.fail(query["kind"][0])
            except ValueError as e:
                return Response.json({"type": "ValueError", "message": str(e)})
            except DurableObjectError as e:
                return Response.json({"type": "DurableObjectError", "message": str(e), "remote": e.remote_type})
        if path == "/fail-uncaught":
            await stub.fail("value")
        if path == "/self":
            return Response.json(await stub.call_self(3))
        if path == "/pingpong":
            return Response.json(await stub.ping_pong(query["other"][0], 3))
        if path == "/storage":
            return Response.json(await stub.storage_tour())
        if path == "/sql":
            return Response.json(await stub.sql_tour())
        if path == "/ids":
            ns = self.env.COUNTER
            unique = ns.new_unique_id()
            again = ns.id_from_string(str(unique))
            out = {
                "unique_roundtrip": (await ns.get(again).whoami())["id"] == str(unique),
                "unique_name": (await ns.get(unique).whoami())["name"],
                "named": (await ns.get(ns.id_from_name("main")).whoami())["id"] == str(ns.idFromName("main")),
                "differs": str(ns.new_unique_id()) != str(unique),
            }
            for label, text in [("bad", "zz"), ("foreign", str(self.env.PLAIN.id_from_name("main")))]:
                try:
                    ns.id_from_string(text)
                    out[label] = "accepted"
                except ValueError as e:
                    out[label] = str(e)
            return Response.json(out)
        if path == "/plain":
            plain = self.env.PLAIN.get_by_name(name)
            return Response.json({"remember": await plain.remember({"n": [1, 2]}), "sql": await plain.try_sql()})
        return Response("no such test", status=404)
