"""A real HTTP receiver for webhook tests: a threaded http.server on 127.0.0.1 that records every
request and answers with the status codes it is given, in turn (the last one repeats)."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Receiver:
    def __init__(self, statuses=(200,), *, hang_first=0.0):
        self.statuses = list(statuses)
        self.hang_first = hang_first  # seconds the first request waits before its answer
        self.requests = []  # (path, headers as a dict, body as text)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                receiver.requests.append((self.path, dict(self.headers.items()), body))
                if len(receiver.requests) == 1 and receiver.hang_first:
                    time.sleep(receiver.hang_first)
                status = receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self):
        self.server.shutdown()
        self.server.server_close()
