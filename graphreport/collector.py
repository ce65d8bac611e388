"""The cyclic garbage collector, paused while a big graph's model or report is built.

Reading a 200k-node graph and analysing it make millions of objects that live on, none of them in a
reference cycle: the collector, run every 100,000 allocations in the CLI's worker (watchdog.py), scans the
young ones again and again and frees nothing (about a tenth of the CPU of those phases). Paused, the work is
the same and the memory too (reference counting frees everything that is not in a cycle). At the end of the
pause what was made is moved to the oldest generation unscanned (gc.freeze then gc.unfreeze: both move whole
generation lists), as if it had survived the young collections: otherwise the first young collection after
the pause would scan it all at once. Cycles made meanwhile are freed by the next full collection.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside the block (as it was after it)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()  # every tracked object -> the permanent generation (the young counts restart at 0)
        gc.unfreeze()  # ... -> the oldest generation, which a full collection still scans
        gc.enable()
