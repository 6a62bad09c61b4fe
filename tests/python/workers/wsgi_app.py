# A hand-written WSGI (PEP 3333) app served through wsgi.entrypoint.
from workers import wsgi


def app(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    text = (
        f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {environ['QUERY_STRING']} "
        f"{environ['SERVER_NAME']}:{environ['SERVER_PORT']} {environ.get('CONTENT_TYPE')} "
        f"{environ.get('HTTP_X_R')} {environ['env'].NAME} {environ['wsgi.url_scheme']} {body.decode()}"
    )
    start_response("202 Accepted", [("Content-Type", "text/plain"), ("X-Rep", "1"), ("X-Rep", "2")])
    return [text.encode("utf-8")]


Default = wsgi.entrypoint(app)
