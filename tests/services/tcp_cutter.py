"""A TCP proxy on 127.0.0.1 that drops a connection after a number of response bytes, on demand."""

from __future__ import annotations

import re
import socket
import threading

GET_REQUEST = re.compile(rb"^GET (?P<path>\S+) HTTP/1\.[01]\r\n(?P<headers>(?:[^\r\n]*\r\n)*?)\r\n", re.MULTILINE)
RANGE_START = re.compile(rb"^range: *bytes=(\d+)-", re.IGNORECASE | re.MULTILINE)


class ConnectionCutter:
    """
    Forwards to ``target_port``; the next ``cuts`` connections whose answer grows past
    ``cut_after_bytes`` are closed mid-answer, as a flaky network or load balancer does.
    Records the GET requests that pass (what was read, from which byte).
    """

    def __init__(self, target_port: int, cut_after_bytes: int, cuts: int = 1):
        self.target_port = target_port
        self.cut_after_bytes = cut_after_bytes
        self.cuts_left = cuts
        self.cuts_done = 0
        self.reads: list[tuple[str, int]] = []  # (path, first byte asked for) of each GET, in order
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._running = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self._running:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, True), daemon=True).start()

    def _pipe(self, source, sink, is_answer: bool):
        sent = 0
        try:
            while data := source.recv(65536):
                if not is_answer:
                    self._note_reads(data)
                if is_answer and sent + len(data) > self.cut_after_bytes and self._take_cut():
                    sink.sendall(data[: max(0, self.cut_after_bytes - sent)])
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def _note_reads(self, request: bytes) -> None:
        for found in GET_REQUEST.finditer(request):
            start = RANGE_START.search(found["headers"])
            with self._lock:
                self.reads.append((found["path"].decode(), int(start[1]) if start else 0))

    def _take_cut(self) -> bool:
        with self._lock:
            if self.cuts_left <= 0:
                return False
            self.cuts_left -= 1
            self.cuts_done += 1
            return True

    def close(self):
        self._running = False
        self._listener.close()
