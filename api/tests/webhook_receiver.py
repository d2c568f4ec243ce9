"""A real HTTP receiver for webhook tests: a threaded http.server on 127.0.0.1 that records every
request and answers with the status codes it is given, in turn (the last one repeats).

`hang_first` holds the first request that many seconds before answering (a worker killed while
it waits); `drip_every` answers every request one byte at a time, that many seconds apart (a
receiver that never lets a single read time out, yet never finishes); `tls` = (certificate file,
key file) serves https instead of http."""

import contextlib
import ssl
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, statuses=(200,), *, hang_first=0.0, drip_every=0.0, tls=None):
        self.statuses = list(statuses)
        self.hang_first = hang_first  # seconds the first request waits before its answer
        self.drip_every = drip_every
        self.requests = []  # (path, headers as a dict, body as text)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                if len(receiver.requests) == 1 and receiver.hang_first:
                    time.sleep(receiver.hang_first)
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                if receiver.drip_every:
                    self._drip(status)
                    return
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def _drip(self, status):
                answer = f"HTTP/1.1 {status} OK\r\nContent-Length: 40\r\n\r\n{'o' * 40}".encode()
                self.close_connection = True
                with contextlib.suppress(OSError):  # the sender hung up: what the test wants
                    for byte in answer:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(receiver.drip_every)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.scheme = "https" if tls else "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
