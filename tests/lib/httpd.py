#!/usr/bin/env python3
"""A small threaded HTTP/HTTPS test server (stdlib only) with endpoints that
behave well and badly, for the http_probe tests and benchmarks.

  httpd.py --port P [--tls-port P2 --cert C --key K] [--ready-file F]

Endpoints (every method; the query string tunes some of them):
  /                     200, a short text body
  /status/CODE          answers CODE
  /delay/MS             waits MS milliseconds, then 200
  /bytes/N              N bytes with Content-Length (?chunked=1: chunked)
  /chunked?chunk=N&pad=P&text=T&tail=Q&pause_ms=M
                        body 'x'*P + T + 'y'*Q sent chunked, N bytes per
                        chunk, each flushed and followed by a pause, so a
                        text can be placed across chunk boundaries
  /redirect/N           302 to /redirect/N-1; /redirect/0 answers 200
  /loop                 302 to itself, forever
  /drip?bytes=N&delay_ms=M
                        Content-Length N, one byte every M milliseconds
  /endless              a chunked body that never ends
  /garbage              bytes that are not HTTP, then close
  /reset                closes the connection with a TCP reset, no answer
  /echo                 200, JSON of method, path, HTTP version, headers, body
"""
import argparse
import json
import socket
import ssl
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FILL = b"abcdefghijklmnopqrstuvwxyz0123456789\n"
BLOCK = 64 * 1024
HANDLER_TIMEOUT_S = 60


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wmhost-testd/1"
    timeout = HANDLER_TIMEOUT_S

    def setup(self):
        # TLS handshakes happen here, on the handler thread, so a client that
        # never finishes one cannot block the accept loop.
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(HANDLER_TIMEOUT_S)
            self.request.do_handshake()
        super().setup()

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("httpd: " + (fmt % args) + "\n")

    def do_GET(self):
        self.route()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_HEAD = do_GET

    # --- helpers -------------------------------------------------------
    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def answer(self, code, body=b"", ctype="text/plain", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def start_chunked(self, code=200):
        self.send_response(code)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    # --- routing -------------------------------------------------------
    def route(self):
        u = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
        parts = [p for p in u.path.split("/") if p]
        body = self.read_body()
        head = parts[0] if parts else ""
        arg = parts[1] if len(parts) > 1 else ""
        try:
            fn = getattr(self, "ep_" + head) if head else self.ep_root
        except AttributeError:
            return self.answer(404, b"no such endpoint\n")
        return fn(arg, q, body)

    def ep_root(self, arg, q, body):
        self.answer(200, b"wmhost test server ok\n")

    def ep_status(self, arg, q, body):
        code = int(arg or 200)
        self.answer(code, b"status %d\n" % code)

    def ep_delay(self, arg, q, body):
        time.sleep(int(arg or 0) / 1000.0)
        self.answer(200, b"delayed %s\n" % arg.encode())

    def ep_bytes(self, arg, q, body):
        n = int(arg or 0)
        chunked = q.get("chunked") == "1"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD":
            return
        block = (FILL * (BLOCK // len(FILL) + 1))[:BLOCK]
        left = n
        while left > 0:
            piece = block[: min(left, BLOCK)]
            if chunked:
                self.chunk(piece)
            else:
                self.wfile.write(piece)
            left -= len(piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def ep_chunked(self, arg, q, body):
        size = max(1, int(q.get("chunk", "16")))
        pause = int(q.get("pause_ms", "20")) / 1000.0
        data = b"x" * int(q.get("pad", "0")) + q.get("text", "").encode() + b"y" * int(q.get("tail", "0"))
        self.start_chunked()
        for i in range(0, len(data), size):
            self.chunk(data[i : i + size])
            self.wfile.flush()
            time.sleep(pause)
        self.wfile.write(b"0\r\n\r\n")

    def ep_redirect(self, arg, q, body):
        n = int(arg or 0)
        if n <= 0:
            return self.answer(200, b"redirect done\n")
        self.answer(302, b"", extra={"Location": "/redirect/%d" % (n - 1)})

    def ep_loop(self, arg, q, body):
        self.answer(302, b"", extra={"Location": "/loop"})

    def ep_drip(self, arg, q, body):
        n = int(q.get("bytes", "10"))
        pause = int(q.get("delay_ms", "500")) / 1000.0
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        self.wfile.flush()
        for _ in range(n):
            time.sleep(pause)
            self.wfile.write(b".")
            self.wfile.flush()

    def ep_endless(self, arg, q, body):
        self.start_chunked()
        block = b"z" * BLOCK
        while True:
            self.chunk(block)

    def ep_garbage(self, arg, q, body):
        self.wfile.write(b"SSH-2.0-this is not http at all\r\n\x00\x01\x02 garbage\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True

    def ep_reset(self, arg, q, body):
        # SO_LINGER with a zero timeout turns close() into a TCP reset.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def ep_echo(self, arg, q, body):
        out = {
            "method": self.command,
            "path": self.path,
            "version": self.request_version,
            "headers": {k: v for k, v in self.headers.items()},
            "body": body.decode("utf-8", "replace"),
        }
        self.answer(200, json.dumps(out).encode() + b"\n", "application/json")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096
    verbose = False

    def handle_error(self, request, client_address):
        # Clients that go away (timeouts, resets, refused certificates) are
        # part of the tests; only show them when asked.
        if self.verbose:
            super().handle_error(request, client_address)


class TLSServer(Server):
    ctx = None

    def get_request(self):
        sock, addr = self.socket.accept()
        return self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls-port", type=int)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--ready-file")
    ap.add_argument("--verbose", action="store_true")
    a = ap.parse_args()

    if ":" in a.host:  # an IPv6 address such as ::1
        Server.address_family = socket.AF_INET6
    servers = [Server((a.host, a.port), Handler)]
    if a.tls_port:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
        tls = TLSServer((a.host, a.tls_port), Handler)
        tls.ctx = ctx
        servers.append(tls)
    for s in servers:
        s.verbose = a.verbose
        threading.Thread(target=s.serve_forever, daemon=True).start()
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
