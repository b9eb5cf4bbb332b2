#!/usr/bin/env python3
"""Servers whose TCP or TLS handshake misbehaves on purpose, for the
http_probe timing tests (stdlib only, 127.0.0.1, a free port).

  odd_servers.py KIND --port-file F [options]

The chosen port is written to F once the server listens.

  silent                  accepts TCP connections and never says a word: a
                          TLS client waits for a ServerHello forever
  tls-delay --cert C --key K --delay-ms MS
                          HTTPS: each connection waits MS before its TLS
                          handshake, then GET answers 200 "tls-delay ok"
  slow-connect --location URL
                          HTTP: answers 302 to URL, but the first SYN of each
                          connection is dropped (its accept queue is kept
                          full until one is), so TCP connect takes the
                          kernel's SYN retransmission time, about 1 s
"""
import argparse
import os
import socket
import ssl
import threading
import time

IO_TIMEOUT_S = 30
POLL_S = 0.005


def listen(backlog):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(backlog)
    return s


def publish_port(sock, path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % sock.getsockname()[1])
    os.rename(tmp, path)


def read_request(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(4096)
        if not piece:
            break
        data += piece


def answer(conn, status, extra=b"", body=b""):
    conn.sendall(b"HTTP/1.1 %s\r\n%sContent-Length: %d\r\nConnection: close\r\n\r\n%s"
                 % (status, extra, len(body), body))


def run_silent(a):
    s = listen(128)
    publish_port(s, a.port_file)
    # Never accept: the kernel completes the TCP handshakes and buffers
    # what clients send; nothing ever answers.
    threading.Event().wait()


def run_tls_delay(a):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    s = listen(128)
    publish_port(s, a.port_file)

    def serve(conn):
        try:
            conn.settimeout(IO_TIMEOUT_S)
            time.sleep(a.delay_ms / 1000.0)
            tls = ctx.wrap_socket(conn, server_side=True)
            read_request(tls)
            answer(tls, b"200 OK", body=b"tls-delay ok\n")
            tls.close()
        except (OSError, ssl.SSLError):
            conn.close()

    while True:
        conn, _ = s.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def listen_overflows():
    """The kernel's count of SYNs dropped because an accept queue was full."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for names, values in zip(lines[::2], lines[1::2]):
        if names.startswith("TcpExt:"):
            return int(values.split()[names.split().index("ListenOverflows")])
    raise RuntimeError("no ListenOverflows in /proc/net/netstat")


def run_slow_connect(a):
    # backlog 0: one connection waiting to be accepted fills the queue, and
    # Linux drops SYNs that arrive while it is full (the client resends its
    # SYN after its initial retransmission timeout, 1 s).
    s = listen(0)
    addr = s.getsockname()
    location = b"Location: " + a.location.encode() + b"\r\n"

    def fill_queue():
        plug = socket.create_connection(addr)
        time.sleep(0.05)  # let the plug land in the accept queue
        return plug, listen_overflows()

    plug, base = fill_queue()
    publish_port(s, a.port_file)  # only now can clients know the port
    while True:
        while listen_overflows() == base:  # wait for a client's dropped SYN
            time.sleep(POLL_S)
        inner, _ = s.accept()  # the plug: room for the resent SYN
        inner.close()
        plug.close()
        conn, _ = s.accept()
        conn.settimeout(IO_TIMEOUT_S)
        try:
            read_request(conn)
            answer(conn, b"302 Found", extra=location)
        except OSError:
            pass
        conn.close()
        plug, base = fill_queue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=["silent", "tls-delay", "slow-connect"])
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--location")
    a = ap.parse_args()
    {"silent": run_silent, "tls-delay": run_tls_delay, "slow-connect": run_slow_connect}[a.kind](a)


if __name__ == "__main__":
    main()
