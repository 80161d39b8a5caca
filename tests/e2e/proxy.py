"""A real TCP proxy in front of `billing api` that loses answers on purpose: the first
`drop` connections have their request forwarded and answered upstream, and then closed before a
byte of the answer reaches the client, which is what a lost response looks like to a client."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field


@dataclass
class DroppingProxy:
    upstream_port: int
    drop: int = 1
    #: Per client connection: every byte the client sent, and every byte upstream answered.
    sent: list[bytearray] = field(default_factory=list)
    answered: list[bytearray] = field(default_factory=list)
    _listener: socket.socket = field(init=False)
    _sockets: list[socket.socket] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def close(self) -> None:
        for sock in [self._listener, *self._sockets]:
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, upstream]
            self.sent.append(bytearray())
            self.answered.append(bytearray())
            index = len(self.sent) - 1
            threading.Thread(target=self._pump, args=(client, upstream, index), daemon=True).start()
            threading.Thread(
                target=self._answer, args=(upstream, client, index), daemon=True
            ).start()

    def _pump(self, client: socket.socket, upstream: socket.socket, index: int) -> None:
        while chunk := _recv(client):
            self.sent[index] += chunk
            upstream.sendall(chunk)

    def _answer(self, upstream: socket.socket, client: socket.socket, index: int) -> None:
        while chunk := _recv(upstream):
            self.answered[index] += chunk
            if index < self.drop:
                client.shutdown(socket.SHUT_RDWR)  # the answer is lost: the client sees a reset
                client.close()
                return
            client.sendall(chunk)


def _recv(sock: socket.socket) -> bytes:
    try:
        return sock.recv(65536)
    except OSError:
        return b""
