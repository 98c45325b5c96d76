#!/usr/bin/env python3
"""A loopback TCP proxy for tests that can stop forwarding without closing anything.

    stall-proxy.py TARGET_HOST TARGET_PORT

Prints the port it listens on (127.0.0.1), then forwards every connection to the target.
SIGUSR1 stalls it: bytes are no longer read or written in either direction and no new
connection is accepted, but every socket stays open -- what a client sees when a network path
silently stops (no reset, no close). SIGUSR2 resumes forwarding. SIGTERM stops it.
"""
import selectors
import signal
import socket
import sys

target = (sys.argv[1], int(sys.argv[2]))
stalled = False


def on_stall(*_):
    global stalled
    stalled = True


def on_resume(*_):
    global stalled
    stalled = False


# A parent may have spawned us with these blocked (threads of a test runner often block signals).
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1, signal.SIGUSR2, signal.SIGTERM})
signal.signal(signal.SIGUSR1, on_stall)
signal.signal(signal.SIGUSR2, on_resume)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", 0))
listener.listen(64)
listener.setblocking(False)
print(listener.getsockname()[1], flush=True)

selector = selectors.DefaultSelector()
selector.register(listener, selectors.EVENT_READ, None)
peers = {}


def close_pair(sock):
    other = peers.pop(sock, None)
    for s in (sock, other):
        if s is None:
            continue
        peers.pop(s, None)
        try:
            selector.unregister(s)
        except (KeyError, ValueError):
            pass
        s.close()


while True:
    events = selector.select(timeout=0.1)
    if stalled:
        continue
    for key, _ in events:
        if key.data is None:
            try:
                client, _ = listener.accept()
            except BlockingIOError:
                continue
            upstream = socket.create_connection(target)
            for s in (client, upstream):
                s.setblocking(True)
                s.settimeout(5)
            peers[client] = upstream
            peers[upstream] = client
            selector.register(client, selectors.EVENT_READ, "pipe")
            selector.register(upstream, selectors.EVENT_READ, "pipe")
            continue
        sock = key.fileobj
        if sock not in peers:
            continue
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:
            close_pair(sock)
            continue
        try:
            peers[sock].sendall(data)
        except (OSError, KeyError):
            close_pair(sock)
