from harness import *

assert load("hello") == ("fetch",), load("hello")
configure()
status, headers, body = response("/")
assert (status, body) == (200, b"Hello world!"), (status, body)
assert headers == [("content-type", "text/plain;charset=UTF-8")], headers
out, timer, background = step()
assert (out, timer, background) == ([], None, 0)
done()
