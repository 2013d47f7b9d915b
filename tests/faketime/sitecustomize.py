"""Sleeps and threads that work under libfaketime 0.9.10 with the monotonic clock left real.

`make test-dates` runs the suite under `faketime --exclude-monotonic`. That release (Debian's)
has two faults there:

- it turns the absolute monotonic deadline Python's time.sleep hands to clock_nanosleep into a
  negative one, and every sleep fails with EINVAL (wolfcw/libfaketime#426). Timed waits on locks
  and events pass through untouched, so a sleep waits on a held lock instead;
- its "forced monotonic fix" of pthread_cond_timedwait, on by default for this glibc, holds up
  the waits behind the GIL's hand-over: every thread start costs about 0.1 s and a threaded
  server falls behind its clients until they time out. FAKETIME_FORCE_MONOTONIC_FIX=0 turns it
  off (libfaketime reads it at each call, so setting it here takes effect at once).

The test session imports this module; the Python processes the tests start find it as
`sitecustomize` on PYTHONPATH (tests.helpers.child_env) and inherit the setting. Where sleeping
works it changes nothing.
"""

from __future__ import annotations

import errno
import os
import threading
import time


def sleep_on_a_lock(seconds: float) -> None:
    """Pause like time.sleep, as a timed wait on a lock nobody releases."""
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    held = threading.Lock()
    held.acquire()
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        held.acquire(timeout=min(left, threading.TIMEOUT_MAX))


def sleep_works() -> bool:
    """Whether time.sleep works in this process (it fails under the libfaketime bug)."""
    try:
        time.sleep(0)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
        return False
    return True


#: True when this process sleeps on a lock because time.sleep is broken.
PATCHED = not sleep_works()
if PATCHED:
    time.sleep = sleep_on_a_lock
    os.environ.setdefault("FAKETIME_FORCE_MONOTONIC_FIX", "0")
