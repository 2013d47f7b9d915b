"""Retrying with backoff: one rule for every loop in newswatch that waits and tries again.

Opening a busy warehouse, taking the writer lock, writing a batch and sending mail all retry the
same way: exponential waits from `first_s`, doubling up to `max_s` with a little jitter (so
processes that failed together do not retry together), until an attempt budget, a time budget
or a stop event ends it; then the last error is raised as it was. tenacity does the work.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import tenacity

OnRetry = Callable[[int, BaseException, float], None]


def backoff(
    *,
    first_s: float,
    max_s: float,
    attempts: int | None = None,
    within_s: float | None = None,
    jitter: bool = True,
    retry_if: Callable[[BaseException], bool] = lambda exc: True,
    on_retry: OnRetry | None = None,
    stop: threading.Event | None = None,
    asked_wait: Callable[[BaseException], float | None] | None = None,
) -> tenacity.Retrying:
    """A retry loop: `for attempt in backoff(...): with attempt: ...`.

    `on_retry(attempt_number, error, wait_s)` runs before each wait; a set `stop` event ends the
    wait at once and stops retrying. `asked_wait(error)` is the wait the other side asked for
    (an HTTP Retry-After): the next try waits at least that long, and when it is longer than
    `max_s` the loop gives up at once (the caller tries again later, after that wait)."""
    stops = _stops(attempts, within_s, stop)
    wait = (
        _exponential_jitter(first_s, max_s)
        if jitter
        else tenacity.wait_exponential(multiplier=first_s, min=first_s, max=max_s)
    )
    if asked_wait is not None:
        asked = _asked(asked_wait)
        stops.append(_StopWhen(lambda state: asked(state) > max_s))
        backoff_wait = wait

        def wait(state: tenacity.RetryCallState) -> float:
            return max(backoff_wait(state), asked(state))

    return tenacity.Retrying(
        stop=tenacity.stop_any(*stops) if stops else tenacity.stop_never,
        wait=wait,
        retry=tenacity.retry_if_exception(retry_if),
        reraise=True,
        before_sleep=_before_sleep(on_retry),
        sleep=_sleeper(stop),
    )


def _stops(
    attempts: int | None, within_s: float | None, stop: threading.Event | None
) -> list[tenacity.stop.stop_base]:
    """What ends the loop: an attempt budget, a time budget, a stop event."""
    stops: list[tenacity.stop.stop_base] = []
    if attempts is not None:
        stops.append(tenacity.stop_after_attempt(attempts))
    if within_s is not None:
        # Never start a wait that would end past the budget: give up instead.
        stops.append(tenacity.stop_before_delay(within_s))
    if stop is not None:
        stops.append(tenacity.stop_when_event_set(stop))
    return stops


def _before_sleep(on_retry: OnRetry | None) -> Callable[[tenacity.RetryCallState], None]:
    """Tell `on_retry` of each failed attempt before its wait."""

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None and state.outcome is not None:
            error = state.outcome.exception()
            if error is not None:
                on_retry(
                    state.attempt_number,
                    error,
                    state.upcoming_sleep if state.upcoming_sleep is not None else 0.0,
                )

    return before_sleep


def _sleeper(stop: threading.Event | None) -> Callable[[float], None]:
    """Sleep between attempts; a set stop event ends the wait at once."""

    def sleep(seconds: float) -> None:
        if stop is not None:
            stop.wait(seconds)
        else:
            time.sleep(seconds)

    return sleep


class _StopWhen(tenacity.stop.stop_base):
    """Stop when a predicate of the retry state holds."""

    def __init__(self, predicate: Callable[[tenacity.RetryCallState], bool]) -> None:
        self.predicate = predicate

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        return self.predicate(retry_state)


def _asked(
    asked_wait: Callable[[BaseException], float | None],
) -> Callable[[tenacity.RetryCallState], float]:
    """The wait the last attempt's error asks for (0 when none)."""

    def asked(state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        seconds = asked_wait(error) if error is not None else None
        return max(0.0, seconds) if seconds is not None else 0.0

    return asked


def _exponential_jitter(first_s: float, max_s: float) -> Callable[[tenacity.RetryCallState], float]:
    """Waits of `first_s * 2**(n-1)` plus up to `first_s` of jitter, at most `max_s`.

    tenacity's wait_exponential_jitter computes this, but the name of its first parameter
    depends on the release (`initial`, deprecated in 9.2 for `multiplier`, which older
    releases lack)."""

    def wait(state: tenacity.RetryCallState) -> float:
        try:
            seconds = first_s * 2 ** (state.attempt_number - 1) + random.uniform(0, first_s)
        except OverflowError:
            seconds = max_s
        return max(0.0, min(seconds, max_s))

    return wait
