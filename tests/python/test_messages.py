# Request, Response and Headers semantics through the dispatch path, and on their own.
import json
from harness import *
from workers import FormData, Headers, Request, Response, File

load("messages")
configure()

TEXT = "text/plain;charset=UTF-8"

status, headers, body = response("/text", "POST", [("content-type", "text/plain")], "héllo wörld".encode())
assert (status, headers, body) == (200, [("content-type", TEXT)], "héllo wörld".encode()), (status, headers, body)

status, headers, body = response("/json", "PUT", [], b'{"a": [1, 2.5, null], "b": "\\u00e9"}')
assert status == 201 and json.loads(body) == {"got": {"a": [1, 2.5, None], "b": "é"}, "method": "PUT"}, body
assert headers == [("x-a", "1"), ("content-type", "application/json")], headers

binary = bytes(range(256))
status, headers, body = response("/bytes", "POST", [], binary)
assert body == binary[::-1] and header(headers, "content-type") == "application/octet-stream"

# urlencoded form: repeated names, blank values, percent-encoding, unicode
body = "a=1&b=&a=2&c=%C3%A9+x".encode()
_, _, out = response("/form", "POST", [("content-type", "application/x-www-form-urlencoded")], body)
assert json.loads(out) == [["a", "1"], ["b", ""], ["a", "2"], ["c", "é x"]], out

# multipart form: a text field and a binary file
multipart = (
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="title"\r\n\r\n'
    b"caf\xc3\xa9\r\n"
    b"--XyZ\r\n"
    b'Content-Disposition: form-data; name="upload"; filename="a b.bin"\r\n'
    b"Content-Type: application/octet-stream\r\n\r\n"
    b"\x00\r\n\xff--\r\n"
    b"--XyZ--\r\n"
)
_, _, out = response("/form", "POST", [("content-type", 'multipart/form-data; boundary="XyZ"')], multipart)
assert json.loads(out) == [["title", "café"], ["upload", "a b.bin", "application/octet-stream", "000d0aff2d2d"]], out

# a form_data() on another content type is an error event, not a crash
out = request("/form", "POST", [("content-type", "text/plain")], b"x")
assert out[0] == "error" and "form_data() needs" in out[3], out

# repeated request headers stay separate; get joins them; names are case-insensitive
hdrs = [("x-multi", "1"), ("x-other", "o"), ("x-multi", "2")]
_, _, out = response("/headers", headers=hdrs)
assert json.loads(out) == {
    "get": "1, 2", "getall": ["1", "2"], "in": [True, False], "items": [list(p) for p in hdrs]
}, out

assert response("/clone", "POST", [], b"data")[2] == b"POST data"

status, headers, body = response("/redirect")
assert (status, headers, body) == (307, [("location", "https://example.invalid/elsewhere")], b""), headers
assert response("/redirect-default")[:2] == (302, [("location", "/there")])

status, headers, body = response("/html")
assert headers == [("content-type", "text/html")] and body == "<b>é</b>".encode(), headers
assert response("/bytearray") == (404, [], b"\x00\xff")
assert response("/memoryview") == (200, [], b"mv")
assert response("/empty") == (204, [], b"")
assert response("/repeated")[1] == [("set-cookie", "a=1"), ("set-cookie", "b=2"), ("content-type", TEXT)]

# unicode in the URL (percent-encoded by the client, as on the wire) and in the body
_, _, out = response("/unicode?q=%E2%9C%93", "POST", [], "✓ ünï".encode())
assert out.decode() == "http://127.0.0.1:8787/unicode?q=%E2%9C%93 ✓ ünï", out

# --- the types on their own ---
h = Headers({"Content-Type": "a", "X-N": 3})
assert h["content-type"] == "a" and h.get("x-n") == "3" and h.get("nope") is None and h.get("nope", "d") == "d"
h.append("x-n", "4")
assert h.getall("X-N") == ["3", "4"] and h.get_all("x-n") == ["3", "4"] and len(h) == 3
h.set("X-N", "5")
assert h.getall("x-n") == ["5"] and list(h.keys()) == ["content-type", "x-n"] and h.values() == ["a", "5"]
h.delete("content-type")
assert "content-type" not in h and Headers(h) == h and Headers([("a", "1")]).items() == [("a", "1")]
del h["x-n"]
assert len(h) == 0
for bad in ("a\r\nb", "a\nb"):
    try:
        Headers({"x": bad})
    except ValueError:
        pass
    else:
        raise AssertionError("a header value with CR/LF must be refused")

r = Response.json([1, "é"], status=418, headers=[("x", "y")])
assert (r.status, r.ok, r.body) == (418, False, '[1, "\\u00e9"]'.encode())
assert r.headers.items() == [("x", "y"), ("content-type", "application/json")]
assert Response("x", headers={"content-type": "text/csv"}).headers.items() == [("content-type", "text/csv")]
assert Response("x").ok and Response(b"x").headers.items() == []
for bad in (lambda: Response("x", status=99), lambda: Response.redirect("/", 200), lambda: Response({"a": 1})):
    try:
        bad()
    except (ValueError, TypeError):
        pass
    else:
        raise AssertionError("must be refused")



async def bodies():
    r = Response.json({"k": "v"})
    assert await r.json() == {"k": "v"} and await r.text() == '{"k": "v"}' and await r.bytes() == b'{"k": "v"}'
    req = Request("https://example.invalid/x", method="post", headers={"a": "b"}, body="hi")
    assert (req.method, req.url) == ("POST", "https://example.invalid/x")
    assert req.headers.items() == [("a", "b"), ("content-type", TEXT)]
    assert await req.text() == "hi" and Request(req).method == "POST"
    form = FormData({"a": "1"})
    form.append("f", File(b"\x01", "f.txt", "text/plain"))
    body = Response(form)
    parsed = await body.form_data()
    assert parsed.get("a") == "1" and parsed["f"].name == "f.txt" and await parsed["f"].bytes() == b"\x01"
    assert parsed.getall("zz") == [] and "a" in parsed and len(parsed) == 2

run_now(bodies())
done()
