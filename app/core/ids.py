"""Random (version 4) UUIDs for new rows, events and requests, read from the system's random
source a few thousand bytes at a time instead of one system call per UUID."""

from __future__ import annotations

import os
import threading
import uuid

_VERSION_4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_VERSION_4_SET = (0x4000 << 64) | (0x8000 << 48)
_BUFFER_BYTES = 4096


class _RandomBytes:
    """`os.urandom` output handed out in order, never twice. A forked child starts empty, so
    no two processes hand out the same bytes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data = b""
        self._at = 0

    def take(self, n: int) -> bytes:
        with self._lock:
            if self._at + n > len(self._data):
                self._data = os.urandom(max(_BUFFER_BYTES, n))
                self._at = 0
            start = self._at
            self._at += n
            return self._data[start : self._at]

    def forget(self) -> None:
        self._data = b""
        self._at = 0


_SOURCE = _RandomBytes()
os.register_at_fork(after_in_child=_SOURCE.forget)


def random_ids(n: int) -> list[uuid.UUID]:
    """`n` version-4 UUIDs, as `uuid.uuid4` makes them."""
    data = _SOURCE.take(16 * n)
    return [
        uuid.UUID(int=int.from_bytes(data[i : i + 16]) & _VERSION_4_CLEAR | _VERSION_4_SET)
        for i in range(0, 16 * n, 16)
    ]


def random_id() -> uuid.UUID:
    """One version-4 UUID, as `uuid.uuid4` makes it."""
    return uuid.UUID(int=int.from_bytes(_SOURCE.take(16)) & _VERSION_4_CLEAR | _VERSION_4_SET)
