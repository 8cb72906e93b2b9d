"""The served process's GC settings: start-up heap frozen, rarer collections."""

from __future__ import annotations

import subprocess
import sys

from switchboard import gcpolicy

PROBE = """
import gc
from switchboard import gcpolicy
junk = [object() for _ in range(1000)]
before = gc.get_freeze_count()
gcpolicy.settle()
print(before, gc.get_freeze_count(), *gc.get_threshold())
"""


def test_settle_freezes_the_heap_and_raises_the_thresholds() -> None:
    # in a child process: freezing this test session's heap would change the rest of the run
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True).stdout.split()
    before, after, *thresholds = map(int, out)
    assert before == 0 and after > 1000
    assert tuple(thresholds) == gcpolicy.THRESHOLDS
    assert gcpolicy.THRESHOLDS[0] > 700  # rarer than CPython's default young collections
