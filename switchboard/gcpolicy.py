"""Garbage-collector settings for a long-running server process.

CPython's default thresholds (700, 10, 10) run a young collection every 700 net allocations and,
once the old generation has grown by a quarter, a full one that walks every tracked object. A
routing server allocates fast over a large heap that barely changes (modules, pydantic schemas,
sockets, caches), so the full collections kept walking it: in a 20 s flat-out benchmark, 13 full
collections of about 175 ms each (0.8 ms of CPU per routed interaction, and the 100-200 ms tail of
intake->offer). Freezing what start-up built takes it out of the collector's walk, and larger
thresholds make collections rarer; cyclic garbage is still found and freed.
"""

from __future__ import annotations

import gc

THRESHOLDS = (10_000, 50, 100)


def settle() -> None:
    """Call once start-up is done: what exists now lives as long as the process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
