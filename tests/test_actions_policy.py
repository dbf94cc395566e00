"""Retry and dry-run policy in isolation."""

from __future__ import annotations

import pytest

from intentforge.actions.policy import UpstreamDown, is_dry_run, transient, with_retries
from intentforge.config import ActionsConfig


@pytest.mark.parametrize(
    ("setting", "has_credentials", "expected"),
    [(None, False, True), (None, True, False), (True, True, True), (False, False, False)],
)
def test_dry_run_is_automatic_until_credentials_exist(setting, has_credentials, expected):
    assert is_dry_run(ActionsConfig(dry_run=setting), has_credentials) is expected


def test_retries_are_bounded_and_back_off_exponentially():
    slept: list[float] = []
    attempts: list[int] = []

    def always_down() -> None:
        attempts.append(1)
        raise transient("HTTP 503")

    with pytest.raises(UpstreamDown, match="Todoist is not answering \\(HTTP 503\\)"):
        with_retries(
            always_down, service="Todoist", max_retries=3, backoff_s=0.5, sleep=slept.append
        )
    assert len(attempts) == 4
    assert slept == [0.5, 1.0, 2.0]


def test_retry_after_is_honoured_but_bounded():
    slept: list[float] = []
    answers = iter([transient("HTTP 429", 3600.0), "ok"])

    def attempt() -> str:
        value = next(answers)
        if isinstance(value, Exception):
            raise value
        return value

    assert (
        with_retries(attempt, service="x", max_retries=2, backoff_s=0.1, sleep=slept.append) == "ok"
    )
    assert slept == [30.0]


def test_other_errors_are_not_retried():
    calls: list[int] = []

    def bug() -> None:
        calls.append(1)
        raise ValueError("a bug")

    with pytest.raises(ValueError):
        with_retries(bug, service="x", max_retries=5, backoff_s=0, sleep=lambda s: None)
    assert calls == [1]
