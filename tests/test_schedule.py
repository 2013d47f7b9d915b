"""When a feed is polled next (pipeline/feeds/schedule.py): its interval after a success; after
failures a backoff that doubles, is spread by jitter, never comes sooner than the feed's interval
or its Retry-After, and is capped, so that no failing feed is ever dropped."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from pipeline.feeds.schedule import after_failure, after_success, backoff_delay

#: The clock of these polls: the last half hour of 2026.
NOW = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
#: The shipped defaults ([feeds] in pipeline/config/schema.py).
INTERVAL, BASE, CAP, RETRY_AFTER_CAP = 1800, 300, 86400, 21600


class Jitter:
    """A stand-in for random.Random whose uniform(a, b) lands at `share` of the range."""

    def __init__(self, share: float) -> None:
        self.share = share

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self.share


NO_JITTER = Jitter(0.5)  # uniform(0.8, 1.2) == 1.0


def next_after_failure(errors: int, rng=NO_JITTER, **kwargs) -> timedelta:
    options = {"interval_s": INTERVAL, "base_s": BASE, "cap_s": CAP}
    options.update(kwargs)
    return after_failure(NOW, errors, rng=rng, retry_after_cap_s=RETRY_AFTER_CAP, **options) - NOW


def test_a_feed_that_works_is_polled_again_after_its_interval():
    assert after_success(NOW, INTERVAL) == datetime(2027, 1, 1, 0, 0, tzinfo=UTC)


def test_backoff_doubles_from_the_base_up_to_the_cap():
    delays = [backoff_delay(n, BASE, CAP, NO_JITTER) for n in range(1, 12)]
    assert delays == [300, 600, 1200, 2400, 4800, 9600, 19200, 38400, 76800, 86400, 86400]


def test_jitter_spreads_feeds_that_failed_together_and_never_passes_the_cap():
    third = [backoff_delay(3, BASE, CAP, random.Random(seed)) for seed in range(50)]
    assert all(0.8 * 1200 <= d <= 1.2 * 1200 for d in third)
    assert len({round(d) for d in third}) > 40  # fifty feeds of one host do not retry together
    capped = [backoff_delay(12, BASE, CAP, random.Random(seed)) for seed in range(50)]
    assert all(0.8 * CAP <= d <= CAP for d in capped)


def test_a_failure_never_brings_the_next_poll_sooner_than_the_interval():
    # The first failures' backoff (5, 10, 20 minutes) is shorter than the half-hour interval.
    assert [next_after_failure(n) for n in (1, 2, 3)] == [timedelta(seconds=INTERVAL)] * 3
    assert next_after_failure(4) == timedelta(seconds=2400)
    assert next_after_failure(1, interval_s=7200) == timedelta(hours=2)


def test_a_feed_failing_for_months_is_still_tried_every_day():
    for errors in (10, 100, 10_000):
        for seed in range(10):
            delay = next_after_failure(errors, random.Random(seed))
            assert timedelta(seconds=0.8 * CAP) <= delay <= timedelta(seconds=CAP)


def test_retry_after_is_honoured_up_to_its_cap():
    assert next_after_failure(1, retry_after_s=7200) == timedelta(hours=2)
    # A server asking for two days gets the cap of six hours.
    assert next_after_failure(1, retry_after_s=2 * 86400) == timedelta(seconds=RETRY_AFTER_CAP)
    # A Retry-After shorter than the backoff already reached does not shorten it.
    assert next_after_failure(6, retry_after_s=60) == timedelta(seconds=9600)
    # Nor does a Retry-After of zero bring the next poll sooner than the interval.
    assert next_after_failure(1, retry_after_s=0) == timedelta(seconds=INTERVAL)
