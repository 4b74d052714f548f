"""A small TCP proxy on 127.0.0.1 in front of the real sshd, for network-failure tests.

It forwards bytes unchanged; it can drop the first N connections at once, cut the first N
connections after K bytes from the server (or from the client: an upload), or accept
connections and never answer (a server that hangs before its banner). It counts connections, so
tests can tell retried from not retried.
"""

from __future__ import annotations

import socket
import threading


class TcpProxy:
    def __init__(
        self,
        target_port: int,
        *,
        drop_first: int = 0,
        cut_first: int = 0,
        cut_after_bytes: int = 0,
        cut_upload_after_bytes: int = 0,
        silent: bool = False,
    ):
        self.target_port = target_port
        self.drop_first = drop_first
        self.cut_first = cut_first
        self.cut_after_bytes = cut_after_bytes
        self.cut_upload_after_bytes = cut_upload_after_bytes
        """For the first ``cut_first`` connections: cut after this many bytes from the client."""
        self.silent = silent
        self.connections = 0
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(50)
        self.port = self._sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed = True
        self._sock.close()
        for sock in self._open:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            n = self.connections
            self._open.append(client)
            if self.silent:
                continue  # hold the connection open, say nothing
            if n <= self.drop_first:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._open.append(upstream)
            limit = self.cut_after_bytes if n <= self.cut_first else 0
            up = self.cut_upload_after_bytes if n <= self.cut_first else 0
            threading.Thread(target=self._pump, args=(client, upstream, up), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, limit), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket, limit: int) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                sent += len(data)
                if limit and sent >= limit:
                    break
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
