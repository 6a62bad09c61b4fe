"""The componentize-py peer of bench/workers/outbound.py: every request awaits one upstream GET, then answers
with the upstream's body.

The upstream's `host:port` comes in the request's `x-upstream` header (bench/run.sh sets it): a pre-initialised
component's environment is frozen at build time, so a header is the simplest per-run input. The asyncio loop over
`wasi:io/poll` is componentize-py's own `poll_loop` (generated with the bindings).
"""

import asyncio

import poll_loop
from componentize_py_types import Ok
from poll_loop import PollLoop, Stream
from wit_world import exports
from wit_world.imports.types import (
    Fields,
    IncomingRequest,
    OutgoingBody,
    OutgoingRequest,
    OutgoingResponse,
    ResponseOutparam,
    Scheme_Http,
)


class IncomingHandler(exports.IncomingHandler):
    def handle(self, request: IncomingRequest, response_out: ResponseOutparam) -> None:
        loop = PollLoop()
        asyncio.set_event_loop(loop)
        loop.run_until_complete(handle_async(request, response_out))


async def handle_async(request: IncomingRequest, response_out: ResponseOutparam) -> None:
    upstream = next(value for name, value in request.headers().entries() if name == "x-upstream").decode()
    outgoing = OutgoingRequest(Fields.from_list([]))
    outgoing.set_scheme(Scheme_Http())
    outgoing.set_authority(upstream)
    outgoing.set_path_with_query("/")
    incoming = await poll_loop.send(outgoing)
    status = incoming.status()
    stream = Stream(incoming.consume())
    chunks = []
    while (chunk := await stream.next()) is not None:
        chunks.append(chunk)
    body = b"".join(chunks)

    response = OutgoingResponse(
        Fields.from_list([("content-type", b"text/plain"), ("content-length", str(len(body)).encode())])
    )
    response.set_status_code(status)
    response_body = response.body()
    ResponseOutparam.set(response_out, Ok(response))
    with response_body.write() as out:
        out.blocking_write_and_flush(body)
    OutgoingBody.finish(response_body, None)
