"""Stalled subscribers: streams whose client sends its request and then never reads a byte.

A tiny receive buffer (set before connecting, so the window is small from the start) makes the server's
side fill quickly: first the kernel buffers, then the server's transport buffer, then its queue. Closing
sends a reset, as a crashed client would, and leaves no TIME_WAIT behind."""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["stalled_streams"]

_RECEIVE_BUFFER = 4096
_NO_LINGER = struct.pack("ii", 1, 0)


@contextmanager
def stalled_streams(host: str, port: int, path: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` open ``GET path`` streams that are never read; reset on exit."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAccept: text/event-stream\r\n\r\n".encode()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _NO_LINGER)
            sock.settimeout(10)
            sock.connect((host, port))
            sock.sendall(request)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()
