"""Counted work, for tests that guard against runaway cost: performance is measured in bench/, never by
timing a unit test (a loaded CI machine makes any time bound flaky). cProfile's primitive call count does
not depend on the machine's speed or load; a loop that never ends or a walk per node shows in it."""
from __future__ import annotations

import cProfile
import pstats


def calls(fn, *args, **kwargs):
    """(what fn returned, or the exception it raised; Python and C calls it made)."""
    prof = cProfile.Profile()
    result = None
    prof.enable()
    try:
        result = fn(*args, **kwargs)
    except Exception as e:  # noqa: BLE001 - handed back to the caller, which decides what it expected
        result = e
    finally:
        prof.disable()
    return result, pstats.Stats(prof).prim_calls
