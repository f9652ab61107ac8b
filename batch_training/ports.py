"""A free TCP port on loopback, for a server this process starts (the prediction server of a smoke
test, a stack's or a test's PostgreSQL). The port is free when asked; the server binds it next."""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
