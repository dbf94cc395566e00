"""add_task against a local server that follows Todoist's unified API v1."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from intentforge.actions import ActionRunner, ActionStatus
from intentforge.config import load_settings
from intentforge.secrets import Secrets
from servers.todoist import TodoistServer


def make_runner(
    tmp_path: Path, server: TodoistServer, token: str | None = None, **actions: Any
) -> tuple[ActionRunner, list[float]]:
    settings = load_settings(
        None,
        {
            "actions": {
                "todoist_base_url": server.base_url,
                "state_dir": str(tmp_path / "state"),
                "timeout_s": 2.0,
                "retry_backoff_s": 0.25,
                **actions,
            }
        },
    )
    slept: list[float] = []
    secrets = Secrets(todoist_api_token=SecretStr(token or server.token))
    return ActionRunner(settings, secrets, sleep=slept.append), slept


def task(**parameters: Any) -> dict[str, Any]:
    return {"intent": "add_task", "parameters": parameters}


def test_adds_task_with_priority_project_and_resolved_due(tmp_path, todoist_server):
    runner, _ = make_runner(tmp_path, todoist_server)
    result = runner.act(
        task(content="buy milk", due="tomorrow at 5pm", priority=1, project="shopping"),
        resolved={"due": {"text": "tomorrow at 5pm", "iso": "2026-11-26T17:00:00+01:00"}},
    )
    assert result.status == ActionStatus.DONE, result.reply
    assert result.reply == "Added 'buy milk' to Shopping, due tomorrow at 5pm."
    [post] = todoist_server.calls("POST", "/api/v1/tasks")
    shopping = next(p for p in todoist_server.projects if p["name"] == "Shopping")
    assert post.body == {
        "content": "buy milk",
        "due_datetime": "2026-11-26T16:00:00Z",
        "priority": 4,  # Todoist's 4 is the UI's p1, our 1
        "project_id": shopping["id"],
    }
    assert post.headers["authorization"] == f"Bearer {todoist_server.token}"
    assert len(post.headers["x-request-id"]) == 36
    # Shopping sits on the second page of projects: the cursor was followed.
    pages = todoist_server.calls("GET", "/api/v1/projects")
    assert [p.query.get("cursor") for p in pages] == [None, "2"]
    assert result.data["task_id"] == todoist_server.tasks[0]["id"]
    assert result.data["project"] == "Shopping"


def test_spoken_due_goes_to_todoist_when_nothing_was_resolved(tmp_path, todoist_server):
    runner, _ = make_runner(tmp_path, todoist_server)
    result = runner.act(task(content="call mum", due="tomorrow at 6"))
    assert result.status == ActionStatus.DONE
    assert result.reply == "Added 'call mum' to Inbox, due tomorrow at 6."
    [post] = todoist_server.calls("POST", "/api/v1/tasks")
    assert post.body == {"content": "call mum", "due_string": "tomorrow at 6", "due_lang": "en"}
    assert todoist_server.calls("GET", "/api/v1/projects") == []


def test_recurring_due_keeps_todoist_parser_even_when_resolved(tmp_path, todoist_server):
    runner, _ = make_runner(tmp_path, todoist_server)
    runner.act(task(content="water plants", due="every monday"), resolved={"due_iso": "2026-11-30"})
    [post] = todoist_server.calls("POST", "/api/v1/tasks")
    assert post.body["due_string"] == "every monday"


def test_resolved_date_without_time_is_a_due_date(tmp_path, todoist_server):
    runner, _ = make_runner(tmp_path, todoist_server)
    runner.act(task(content="pay rent", due="on friday"), resolved={"due_iso": "2026-11-27"})
    [post] = todoist_server.calls("POST", "/api/v1/tasks")
    assert post.body["due_date"] == "2026-11-27"
    assert "due_string" not in post.body


def test_unknown_project_asks_instead_of_creating(tmp_path, todoist_server):
    runner, _ = make_runner(tmp_path, todoist_server)
    result = runner.act(task(content="buy paint", project="Garage"))
    assert result.status == ActionStatus.NEEDS_CLARIFICATION
    assert result.error == "unknown_project"
    assert "Garage" in result.reply and "Shopping" in result.reply
    assert todoist_server.calls("POST", "/api/v1/tasks") == []
    assert todoist_server.calls("POST", "/api/v1/projects") == []


def test_missing_project_is_created_when_configured(tmp_path, todoist_server):
    runner, _ = make_runner(tmp_path, todoist_server, todoist_create_projects=True)
    result = runner.act(task(content="buy paint", project="Garage"))
    assert result.status == ActionStatus.DONE
    assert result.data["project_created"] is True
    garage = next(p for p in todoist_server.projects if p["name"] == "Garage")
    assert todoist_server.tasks[0]["project_id"] == garage["id"]
    assert result.reply == "Added 'buy paint' to Garage."


def test_server_error_is_retried_with_the_same_request_id(tmp_path, todoist_server):
    runner, slept = make_runner(tmp_path, todoist_server)
    todoist_server.fail(503)
    result = runner.act(task(content="buy milk"))
    assert result.status == ActionStatus.DONE
    posts = todoist_server.calls("POST", "/api/v1/tasks")
    assert len(posts) == 2
    assert posts[0].headers["x-request-id"] == posts[1].headers["x-request-id"]
    assert len(todoist_server.tasks) == 1
    assert slept == [0.25]


def test_down_service_gives_up_after_bounded_retries(tmp_path, todoist_server):
    runner, slept = make_runner(tmp_path, todoist_server, max_retries=2)
    todoist_server.fail(500, times=5)
    result = runner.act(task(content="buy milk"))
    assert result.status == ActionStatus.FAILED
    assert result.error == "upstream_down"
    assert result.reply == "Todoist isn't answering right now; please try again in a minute."
    assert len(todoist_server.calls("POST", "/api/v1/tasks")) == 3
    assert slept == [0.25, 0.5]
    assert todoist_server.tasks == []


def test_timeouts_are_retried_then_reported(tmp_path, todoist_server):
    runner, _ = make_runner(tmp_path, todoist_server, timeout_s=0.2, max_retries=1)
    todoist_server.stall(1.0, times=2)
    result = runner.act(task(content="buy milk"))
    assert result.status == ActionStatus.FAILED
    assert result.error == "upstream_down"
    assert "0.2s" in result.data["reason"]
    assert len(todoist_server.calls("POST", "/api/v1/tasks")) == 2


def test_rate_limit_honours_retry_after(tmp_path, todoist_server):
    runner, slept = make_runner(tmp_path, todoist_server)
    todoist_server.fail(429, body={"error": "Too many requests"}, **{"Retry-After": "3"})
    assert runner.act(task(content="buy milk")).status == ActionStatus.DONE
    assert slept == [3.0]


def test_rejected_token_is_not_retried(tmp_path, todoist_server):
    runner, slept = make_runner(tmp_path, todoist_server, token="wrong-token")
    result = runner.act(task(content="buy milk"))
    assert result.status == ActionStatus.FAILED
    assert result.error == "upstream_rejected"
    assert result.data == {"upstream_status": 401}
    assert "TODOIST_API_TOKEN" in result.reply
    assert len(todoist_server.requests) == 1
    assert slept == []


def test_bad_request_reports_todoist_reason(tmp_path, todoist_server):
    runner, _ = make_runner(tmp_path, todoist_server)
    todoist_server.fail(400, body={"error": "Invalid argument value: content"})
    result = runner.act(task(content="buy milk"))
    assert result.status == ActionStatus.FAILED
    assert result.reply == "Todoist rejected the task: Invalid argument value: content."


def test_unreachable_service_is_reported(tmp_path, todoist_server):
    todoist_server.stop()
    runner, _ = make_runner(tmp_path, todoist_server, max_retries=1)
    result = runner.act(task(content="buy milk"))
    assert result.status == ActionStatus.FAILED
    assert result.error == "upstream_down"
    assert "connection failed" in result.data["reason"]


def test_token_never_appears_in_results_or_logs(tmp_path, todoist_server, caplog):
    caplog.set_level(logging.DEBUG)
    runner, _ = make_runner(tmp_path, todoist_server)
    todoist_server.fail(502)
    done = runner.act(task(content="buy milk", project="Work"))
    rejected, _ = make_runner(tmp_path, todoist_server, token=todoist_server.token + "x")
    refused = rejected.act(task(content="buy milk"))
    assert done.status == ActionStatus.DONE and refused.status == ActionStatus.FAILED
    assert caplog.records  # httpx and the retry policy did log
    for text in (caplog.text, done.model_dump_json(), refused.model_dump_json()):
        assert todoist_server.token not in text


@pytest.mark.parametrize(("ours", "todoist"), [(1, 4), (2, 3), (3, 2), (4, 1)])
def test_priority_maps_to_todoist_scale(tmp_path, todoist_server, ours, todoist):
    runner, _ = make_runner(tmp_path, todoist_server)
    runner.act(task(content="x", priority=ours))
    assert todoist_server.tasks[0]["priority"] == todoist
