"""A TCP proxy on loopback whose connection can be cut mid-transfer: a network that drops.

It forwards to a real server (moto's S3 server in tests/test_remotes.py). Once the client has
sent `cut_after` bytes through it, it closes every connection and stops listening, as a link
that goes down does; `restore()` listens again on the same port, so the client's configured
address works again and the server behind it has kept everything it received.
"""

import contextlib
import socket
import threading


class CuttableProxy:
    def __init__(self, upstream: tuple[str, int], cut_after: int | None = None, refuse: bool = True) -> None:
        self.upstream = upstream
        self.refuse = refuse
        self.cut_after = cut_after
        self.sent = 0
        self.cut = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener = self._listen(0)
        self.port = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", port))
        listener.listen(64)
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return listener

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # the listener was closed: the link is down
            if self.cut.is_set():
                client.close()
                continue
            server = socket.create_connection(self.upstream)
            with self._lock:
                self._sockets |= {client, server}
            threading.Thread(target=self._pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, False), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket, upload: bool) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65536):
                if upload:
                    with self._lock:
                        self.sent += len(chunk)
                        over = self.cut_after is not None and self.sent > self.cut_after
                    if over:
                        self.drop()
                        return
                target.sendall(chunk)
        for end in (source, target):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)

    def drop(self) -> None:
        """The link goes down: every open connection is reset and no new one is accepted."""
        self.cut.set()
        if self.refuse:
            with contextlib.suppress(OSError):
                self._listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def restore(self) -> None:
        """The link is back, on the same address."""
        self.cut_after = None
        if self.cut.is_set():
            self.cut.clear()
            if self.refuse:
                self._listener = self._listen(self.port)

    def close(self) -> None:
        self.drop()
