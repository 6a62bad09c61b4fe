# ASGI (with and without lifespan, `from workers import asgi` and `import asgi`) and WSGI apps.
from harness import *

configure({"NAME": "env-value"})

assert load("asgi_app") == ("fetch",)
for n in (1, 2):
    status, headers, body = response("/a%20b/c?x=1&y=%C3%A9", "POST", [("x-r", "1"), ("x-r", "2")], "bødy".encode())
    assert status == 201, (status, body)
    assert headers == [("content-type", "text/plain"), ("set-cookie", "a=1"), ("set-cookie", "b=2")], headers
    # lifespan startup ran once, for the first request only
    assert body.decode() == "POST /a b/c /a%20b/c x=1&y=%C3%A9 env-value connected 1 ['1', '2'] bødy", body

assert load("asgi_no_lifespan") == ("fetch",)
assert response("/")[::2] == (200, b"plain False")

assert load("wsgi_app") == ("fetch",)
status, headers, body = response("/p%C3%A9?q=1", "PUT", [("content-type", "text/x"), ("x-r", "a"), ("x-r", "b")], b"in")
assert status == 202 and headers == [("content-type", "text/plain"), ("x-rep", "1"), ("x-rep", "2")], headers
assert body.decode() == "PUT /p\xc3\xa9 q=1 127.0.0.1:8787 text/x a,b env-value http in", body
done()
