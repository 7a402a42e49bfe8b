"""
A stream read in a thread of its own, a few blocks ahead of its reader: zlib and the network
let go of the GIL, so a rotated log's decompression (and its download) runs on another core
while this one transforms what was read before.

What the source raises (a truncated gzip, a read that kept failing) reaches the reader after
every byte read before it, where a plain read would have raised it.
"""

from __future__ import annotations

import io
import queue
import threading

BLOCK_BYTES = 1024 * 1024
BLOCKS_AHEAD = 4  # bounded: at most this many blocks wait in memory


class ReadAhead(io.RawIOBase):
    def __init__(self, source, block_bytes: int = BLOCK_BYTES, blocks_ahead: int = BLOCKS_AHEAD):
        self._blocks: queue.Queue = queue.Queue(blocks_ahead)
        self._stopping = threading.Event()
        self._pending = memoryview(b"")
        self._finished = False
        self._thread = threading.Thread(
            target=self._read_all, args=(source, block_bytes), name="backfill-read-ahead", daemon=True
        )
        self._thread.start()

    def readable(self) -> bool:
        return True

    def _read_all(self, source, block_bytes: int) -> None:
        try:
            while not self._stopping.is_set():
                block = source.read(block_bytes)
                if not self._handed(block) or not block:
                    return
        except BaseException as exc:  # noqa: BLE001 - raised again in the reader's thread
            self._handed(exc)

    def _handed(self, item) -> bool:
        while not self._stopping.is_set():
            try:
                self._blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def readinto(self, buffer) -> int:
        while not self._pending:
            if self._finished:
                return 0
            item = self._blocks.get()
            if isinstance(item, BaseException):
                self._finished = True
                raise item
            if not item:  # the end of the source
                self._finished = True
                return 0
            self._pending = memoryview(item)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size

    def close(self) -> None:
        """Stop the thread (the reader may stop early: a byte range's end, a failure)."""
        if not self.closed:
            self._stopping.set()
            self._thread.join()
        super().close()
