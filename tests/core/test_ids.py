"""`app.core.ids`: version-4 UUIDs from a buffered random source, distinct across processes."""

from __future__ import annotations

import os
import uuid

from app.core import ids


def test_random_ids_are_distinct_version_4_uuids() -> None:
    made = ids.random_ids(2000) + [ids.random_id() for _ in range(2000)]
    assert len(set(made)) == 4000
    assert all(i.version == 4 and i.variant == uuid.RFC_4122 for i in made)
    assert len({i.int >> 122 for i in made}) > 1  # the leading bits are random, not fixed
    assert ids.random_ids(0) == []


def test_a_forked_child_does_not_hand_out_its_parents_bytes() -> None:
    ids.random_id()  # the buffer now holds bytes the parent will hand out next
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.close(read)
        os.write(write, ids.random_id().bytes)
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    from_child = os.read(read, 16)
    os.close(read)
    assert from_child != ids.random_id().bytes
