"""The one retry rule (pipeline/retry.py) behind opening a busy warehouse, the writer lock,
writing a batch and sending mail: waits that double up to a cap, an attempt or time budget, a
stop event, and the last error raised as it was."""

from __future__ import annotations

import threading
import time

import pytest

from pipeline.retry import backoff


class Flaky:
    """Fails `failures` times (a new error each time), then returns "done"."""

    def __init__(self, failures: int, kind: type[Exception] = TimeoutError) -> None:
        self.failures = failures
        self.kind = kind
        self.calls = 0
        self.errors: list[Exception] = []

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            error = self.kind(f"try {self.calls} failed")
            self.errors.append(error)
            raise error
        return "done"


def run(work, **options) -> str:
    for attempt in backoff(**options):
        with attempt:
            result = work()
    return result


def test_retries_until_it_succeeds_and_reports_each_wait():
    work, seen = Flaky(2), []
    result = run(
        work,
        first_s=0.01,
        max_s=0.1,
        jitter=False,
        on_retry=lambda n, error, wait: seen.append((n, error, wait)),
    )
    assert result == "done" and work.calls == 3
    assert seen == [(1, work.errors[0], 0.01), (2, work.errors[1], 0.02)]


def test_gives_up_after_its_attempts_and_raises_the_last_error_as_it_was():
    work = Flaky(10)
    with pytest.raises(TimeoutError) as raised:
        run(work, first_s=0.001, max_s=0.001, attempts=3)
    assert work.calls == 3 and raised.value is work.errors[-1]


def test_waits_double_up_to_the_cap():
    waits: list[float] = []
    with pytest.raises(TimeoutError):
        run(
            Flaky(10),
            first_s=0.001,
            max_s=0.004,
            attempts=6,
            jitter=False,
            on_retry=lambda n, error, wait: waits.append(wait),
        )
    assert waits == [0.001, 0.002, 0.004, 0.004, 0.004]


def test_jitter_adds_at_most_the_first_wait_and_keeps_the_cap():
    waits: list[float] = []
    with pytest.raises(TimeoutError):
        run(
            Flaky(10),
            first_s=0.002,
            max_s=0.006,
            attempts=6,
            on_retry=lambda n, error, wait: waits.append(wait),
        )
    nominal = [0.002, 0.004, 0.008, 0.016, 0.032]
    assert all(
        min(n, 0.006) <= w <= min(n + 0.002, 0.006) for n, w in zip(nominal, waits, strict=True)
    )


def test_an_error_it_is_not_told_to_retry_is_raised_at_once():
    work, seen = Flaky(3, ValueError), []
    with pytest.raises(ValueError, match="try 1 failed"):
        run(
            work,
            first_s=0.001,
            max_s=0.001,
            attempts=5,
            retry_if=lambda error: isinstance(error, TimeoutError),
            on_retry=lambda *args: seen.append(args),
        )
    assert work.calls == 1 and seen == []


def test_a_time_budget_starts_no_wait_that_would_end_past_it():
    work = Flaky(100)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        run(work, first_s=0.25, max_s=0.25, jitter=False, within_s=1.0)
    # Tries at 0, 0.25, 0.5 and 0.75 s; a fifth wait would end at 1 s, so it gives up instead.
    assert time.monotonic() - started < 1.0
    assert 2 <= work.calls <= 4


def test_a_stop_event_ends_a_long_wait_at_once_and_stops_retrying():
    stop = threading.Event()
    work = Flaky(100)
    timer = threading.Timer(0.2, stop.set)
    started = time.monotonic()
    timer.start()
    with pytest.raises(TimeoutError) as raised:
        run(work, first_s=30, max_s=30, stop=stop)
    assert time.monotonic() - started < 10  # not the 30 s wait
    assert work.calls <= 2 and raised.value is work.errors[-1]
    # Already set: no wait at all, the first error is raised.
    work = Flaky(100)
    with pytest.raises(TimeoutError):
        run(work, first_s=30, max_s=30, stop=stop)
    assert work.calls == 1
