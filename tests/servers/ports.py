"""Ports on 127.0.0.1 for servers that are told their port before they bind it."""

from __future__ import annotations

import socket


def reserve_port() -> int:
    """A port on 127.0.0.1 that the kernel gives to no other bind(0) for about a minute.

    A port only bound and released goes back to the pool at once, where another test process
    (pytest-xdist runs two) can get it before our server binds it. A connection accepted and
    closed from the listening side first leaves the port in TIME_WAIT: bind(0) passes it over
    while a server that sets SO_REUSEADDR (uvicorn, asyncio, aiosmtpd) binds it at once.
    """
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = int(listener.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            accepted.close()
    return port
