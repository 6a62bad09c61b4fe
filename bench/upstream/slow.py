"""A slow upstream for the outbound benchmark: answers every GET with `upstream` after a fixed delay.

Usage: python3 slow.py DELAY_SECONDS — binds 127.0.0.1 on a free port and prints `serving http://127.0.0.1:PORT`
as its first stdout line (as `pyworkers serve` does). One thread per connection, and a listen backlog larger than
the benchmark's concurrency, so the upstream itself never queues or drops the 64 concurrent requests.
"""

import http.server
import sys
import time


class Slow(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    delay = 0.1

    def do_GET(self):
        time.sleep(self.delay)
        body = b"upstream"
        self.send_response(200)
        self.send_header("content-type", "text/plain")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass


class Server(http.server.ThreadingHTTPServer):
    # The default backlog (5) would drop SYNs under 64 concurrent connects and add 1 s retransmits.
    request_queue_size = 1024
    daemon_threads = True


def main():
    Slow.delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.1
    server = Server(("127.0.0.1", 0), Slow)
    print(f"serving http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
