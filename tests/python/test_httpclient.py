# http.client and urllib.request over the host: _pyworkers.hostcall.call replaced by a fake host.
import marshal
import http.client
import urllib.error
import urllib.request

from _pyworkers import hostcall

# Without the device (this is `pyworkers run`), the error says what is needed.
try:
    urllib.request.urlopen("http://example.invalid/")
except urllib.error.URLError as e:
    assert isinstance(e.reason, PermissionError) and "pyworkers serve --allow-host" in str(e.reason), e.reason
else:
    raise AssertionError("no device: must fail")

calls = []


def fake_call(frame):
    request = marshal.loads(frame)
    calls.append(request)
    kind, method, url, headers, body, timeout, redirect = request
    # http.client never follows redirects: urllib.request does that itself.
    assert redirect == "manual", request
    if "denied" in url:
        return marshal.dumps((False, ("denied", "denied.example is not allowed: pass --allow-host denied.example")), 2)
    if url.endswith("/moved"):
        return marshal.dumps((True, (302, [("location", "/v1?q=1")], b"", url)), 2)
    reply_body = f"{method} {url} {body.decode()}".encode() if method != "HEAD" else b""
    headers = [("content-type", "text/plain"), ("x-rep", "1"), ("x-rep", "2"), ("content-length", "999")]
    return marshal.dumps((True, (200 if "missing" not in url else 404, headers, reply_body, url)), 2)


hostcall.call = fake_call

with urllib.request.urlopen("https://api.example/v1?q=1", timeout=5) as r:
    expected = b"GET https://api.example/v1?q=1 "
    assert r.status == 200 and r.read() == expected, r.status
    # The host's framing is replaced by the length of the body it delivered.
    assert r.headers.get_all("x-rep") == ["1", "2"] and r.headers["content-length"] == str(len(expected)), r.headers
kind, method, url, headers, body, timeout, _redirect = calls[-1]
assert (kind, method, url, body, timeout) == ("fetch", "GET", "https://api.example/v1?q=1", b"", 5.0), calls[-1]
assert ("user-agent", "Python-urllib/3.14") in headers, headers
assert not any(n in ("host", "connection") for n, _ in headers), headers

# A redirect reaches urllib.request, which follows it with a second host call.
with urllib.request.urlopen("https://api.example/moved") as r:
    assert r.geturl() == "https://api.example/v1?q=1" and r.status == 200, r.geturl()
assert [c[2] for c in calls[-2:]] == ["https://api.example/moved", "https://api.example/v1?q=1"], calls[-2:]

req = urllib.request.Request("http://api.example:8080/post", data=b"a=1", method="POST", headers={"X-T": "t"})
assert urllib.request.urlopen(req).read() == b"POST http://api.example:8080/post a=1"
assert ("x-t", "t") in calls[-1][3] and calls[-1][5] is None, calls[-1]

try:
    urllib.request.urlopen("http://api.example/missing")
except urllib.error.HTTPError as e:
    assert e.code == 404
else:
    raise AssertionError("404 must raise HTTPError")

# http.client directly: keep-alive reuse of one connection, chunked request body, HEAD.
conn = http.client.HTTPSConnection("api.example")
conn.request("PUT", "/one", body=iter([b"ab", b"cd"]), headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
r = conn.getresponse()
assert (r.status, r.reason, r.read()) == (200, "OK", b"PUT https://api.example/one abcd")
conn.request("HEAD", "/two")
r = conn.getresponse()
assert r.read() == b"" and r.getheader("content-length") == "999"
conn.close()

try:
    c = http.client.HTTPConnection("denied.example")
    c.request("GET", "/")
    c.getresponse()
except PermissionError as e:
    assert "--allow-host" in str(e)
else:
    raise AssertionError("denied must raise PermissionError")
print("ok")
