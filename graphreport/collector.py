"""The cyclic garbage collector, paused while a big graph's model or report is built.

Reading a 200k-node graph and analysing it make millions of objects that live on, none of them in a
reference cycle: the collector, run every 100,000 allocations in the CLI's worker (watchdog.py), scans the
young ones again and again and frees nothing (about a tenth of the CPU of those phases). Paused, the work is
the same and the memory too (reference counting frees everything that is not in a cycle). At the end of the
pause what was made is moved to the oldest generation unscanned (gc.freeze then gc.unfreeze: both move whole
generation lists), as if it had survived the young collections: otherwise the first young collection after
the pause would scan it all at once. Cycles made meanwhile are freed by the next full collection.

That move is only for big graphs (`big`): it also restarts the young counts, so a process that makes many
small reports one after another, each almost wholly inside a pause (a fuzzing loop, a library caller), would
never run a collection at all, and the cycles its failed reads leave (an exception's traceback and frames)
would pile up: 0.3 MB per damaged file, 4 GB after 18,000 in a fuzzing run. A small pause just re-enables the
collector, which then counts what was made as usual.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused(big: bool = False) -> Iterator[None]:
    """No cyclic collection inside the block (as it was after it). `big`: the block makes a big graph's
    objects, which are moved to the oldest generation unscanned at the end (see above)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        if big:
            gc.freeze()  # every tracked object -> the permanent generation (the young counts restart at 0)
            gc.unfreeze()  # ... -> the oldest generation, which a full collection still scans
        gc.enable()


BIG_NODES = 50_000  # a graph of this many nodes is big for paused()
BIG_FILE_BYTES = 4 << 20  # a file of this size may hold one (GraphDef reader: decided before parsing)
