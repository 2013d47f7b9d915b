"""When to poll a feed next (pure): its interval after a success, capped exponential backoff
with jitter after failures, Retry-After honoured. No feed is ever dropped: the delay is capped."""

from __future__ import annotations

import random
from datetime import datetime, timedelta


def after_success(now: datetime, interval_s: int) -> datetime:
    """Next poll after a successful one."""
    return now + timedelta(seconds=interval_s)


def backoff_delay(error_count: int, base_s: float, cap_s: float, rng: random.Random) -> float:
    """Delay after the `error_count`-th consecutive failure: base * 2^(n-1), jittered, capped."""
    exponent = min(max(error_count - 1, 0), 30)
    delay = min(cap_s, base_s * (2**exponent))
    # ±20 % jitter spreads retries of feeds that failed together (a host outage).
    return min(cap_s, delay * rng.uniform(0.8, 1.2))


def after_failure(
    now: datetime,
    error_count: int,
    *,
    interval_s: int,
    base_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    retry_after_cap_s: float = 21600,
    rng: random.Random | None = None,
) -> datetime:
    """Next poll after a failure: never sooner than the feed's interval or Retry-After."""
    rng = rng or random.Random()
    delay = max(float(min(interval_s, cap_s)), backoff_delay(error_count, base_s, cap_s, rng))
    if retry_after_s is not None:
        delay = max(delay, min(retry_after_s, retry_after_cap_s))
    return now + timedelta(seconds=min(delay, max(cap_s, retry_after_cap_s)))
