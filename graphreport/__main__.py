import os
import sys

from . import watchdog
from .cli import main

code = main()
if watchdog.parent_only_waited and isinstance(code, int):
    # the work ran in a child that has exited: skip tearing down this interpreter (a few ms)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
sys.exit(code)
