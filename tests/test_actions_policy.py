"""The actions' policy: dry-run decision, and retries on upstream errors against a real server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from intentforge.actions import ActionRunner, ActionStatus
from intentforge.actions.policy import UpstreamDown, call_with_retries, http_request, is_dry_run
from intentforge.config import ActionsConfig, load_settings
from intentforge.retry import Transient
from intentforge.secrets import Secrets
from servers.local_http import LocalHTTPServer, Reply
from servers.todoist import TodoistServer


@pytest.mark.parametrize(
    ("setting", "has_credentials", "expected"),
    [(None, False, True), (None, True, False), (True, True, True), (False, False, False)],
)
def test_dry_run_is_automatic_until_credentials_exist(setting, has_credentials, expected):
    assert is_dry_run(ActionsConfig(dry_run=setting), has_credentials) is expected


def test_retries_follow_the_actions_settings_then_report_the_service_down():
    slept: list[float] = []
    attempts: list[int] = []

    def always_down() -> None:
        attempts.append(1)
        raise Transient("HTTP 503")

    config = ActionsConfig(max_retries=3, retry_backoff_s=0.5)
    with pytest.raises(UpstreamDown, match="Todoist is not answering \\(HTTP 503\\)"):
        call_with_retries(always_down, service="Todoist", config=config, sleep=slept.append)
    assert len(attempts) == 4
    assert slept == [0.5, 1.0, 2.0]


def test_a_retry_after_longer_than_half_a_minute_is_cut_to_30_s():
    slept: list[float] = []
    answers = iter([Transient("HTTP 429", 3600.0), "ok"])

    def attempt() -> str:
        value = next(answers)
        if isinstance(value, Exception):
            raise value
        return value

    config = ActionsConfig(max_retries=2, retry_backoff_s=0.1)
    assert call_with_retries(attempt, service="x", config=config, sleep=slept.append) == "ok"
    assert slept == [30.0]


@pytest.mark.parametrize("status", [429, 503])
def test_unreadable_retry_after_falls_back_to_backoff(status: int) -> None:
    server = LocalHTTPServer().start()
    server.routes["GET", "/ping"] = lambda request: Reply(200, {"ok": True})
    try:
        server.fail(status, body={"error": "busy"}, **{"Retry-After": "soon"})
        slept: list[float] = []
        config = ActionsConfig(max_retries=1, retry_backoff_s=0.25)
        with httpx.Client(timeout=2.0) as client:
            response = http_request(
                client, "GET", f"{server.url}/ping", service="x", config=config, sleep=slept.append
            )
            assert response.json() == {"ok": True}
            server.fail(status, times=2, **{"Retry-After": "soon"})
            with pytest.raises(UpstreamDown, match=f"x is not answering \\(HTTP {status}\\)"):
                http_request(
                    client,
                    "GET",
                    f"{server.url}/ping",
                    service="x",
                    config=config,
                    sleep=slept.append,
                )
        assert slept == [0.25, 0.25]
    finally:
        server.stop()


def test_a_busy_service_with_an_unreadable_retry_after_fails_the_action_cleanly(
    tmp_path: Path, todoist_server: TodoistServer
) -> None:
    settings = load_settings(
        None,
        {
            "actions": {
                "todoist_base_url": todoist_server.base_url,
                "state_dir": str(tmp_path / "state"),
                "max_retries": 2,
                "retry_backoff_s": 0.25,
            }
        },
    )
    slept: list[float] = []
    secrets = Secrets(todoist_api_token=SecretStr(todoist_server.token))
    todoist_server.fail(429, times=3, body={"error": "slow down"}, **{"Retry-After": "soon"})
    with ActionRunner(settings, secrets, sleep=slept.append) as runner:
        result = runner.act({"intent": "add_task", "parameters": {"content": "buy milk"}})
    assert result.status == ActionStatus.FAILED
    assert result.error == "upstream_down"
    assert result.data["reason"] == "HTTP 429"
    assert slept == [0.25, 0.5]
    assert todoist_server.tasks == []
