"""The demo's 12-factor app: answers every GET with $GREETING, the setting consul-templates' env mode gives it."""

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Greeter(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        body = (os.environ.get("GREETING", "") + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    host, _, port = os.environ.get("GREETER_LISTEN", "0.0.0.0:8080").rpartition(":")
    ThreadingHTTPServer((host, int(port)), Greeter).serve_forever()
