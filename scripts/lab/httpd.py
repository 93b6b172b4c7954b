#!/usr/bin/env python3
"""Small HTTP/HTTPS server for the real-tools lab (nginx is not installed).

  httpd.py [--bind ADDR] [--port N] [--tls CERT KEY] [--auth USER:PASS] [--v6]

GET /                 a small HTML page (a few links)
GET /firmware.bin     50 MB of data (streamed)
GET /blob/N           N bytes of data
GET /anything-else    a small JSON body
POST / PUT            body read (Content-Length or chunked) and discarded, size echoed
--auth                every request needs HTTP basic auth (401 otherwise)
"""
import argparse, base64, socket, ssl, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = bytes(range(256)) * 256  # 64 KiB pattern


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "lab-httpd/1.0"
    auth = None

    def log_message(self, fmt, *args):
        pass

    def authorized(self):
        if not self.auth:
            return True
        want = "Basic " + base64.b64encode(self.auth.encode()).decode()
        if self.headers.get("Authorization") == want:
            return True
        body = b"unauthorized\n"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="router admin"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        return False

    def send_small(self, body, ctype="application/json"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_stream(self, size):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        left = size
        while left > 0:
            n = min(left, len(CHUNK))
            self.wfile.write(CHUNK[:n])
            left -= n

    def do_GET(self):
        if not self.authorized():
            return
        p = self.path.split("?")[0]
        if p == "/":
            self.send_small(b"<html><body><h1>lab</h1><a href='/a.js'>a</a> <a href='/b.css'>b</a></body></html>\n",
                            "text/html")
        elif p == "/firmware.bin":
            self.send_stream(50 * 1024 * 1024)
        elif p.startswith("/blob/"):
            try:
                self.send_stream(min(int(p[6:]), 1 << 30))
            except ValueError:
                self.send_error(400)
        else:
            self.send_small(b'{"status":"ok","tasks":[]}\n')

    def do_HEAD(self):
        self.send_small(b"")

    def read_body(self):
        total = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                line = self.rfile.readline()
                n = int(line.strip().split(b";")[0] or b"0", 16)
                if n == 0:
                    self.rfile.readline()
                    break
                left = n
                while left:
                    d = self.rfile.read(min(left, 1 << 16))
                    if not d:
                        return total
                    left -= len(d)
                total += n
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length") or 0)
            while left > 0:
                d = self.rfile.read(min(left, 1 << 16))
                if not d:
                    break
                left -= len(d)
                total += len(d)
        return total

    def do_POST(self):
        if not self.authorized():
            return
        n = self.read_body()
        self.send_small(('{"received":%d}\n' % n).encode())

    do_PUT = do_POST


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", default="")
    ap.add_argument("--port", type=int, default=80)
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--auth")
    ap.add_argument("--v6", action="store_true", help="listen on IPv6 too (dual stack)")
    a = ap.parse_args()
    Handler.auth = a.auth

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        allow_reuse_address = True
        request_queue_size = 256
        address_family = socket.AF_INET6 if a.v6 else socket.AF_INET

        def server_bind(self):
            if a.v6:
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
            super().server_bind()

    srv = Server((a.bind or ("::" if a.v6 else "0.0.0.0"), a.port), Handler)
    if a.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls[0], a.tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
