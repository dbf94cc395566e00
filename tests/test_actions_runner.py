"""The runner's policy: idempotency, dry-run, confirmation, out-of-scope, custom executors."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from intentforge.actions import NONE_REPLY, ActionRunner, ActionStatus, act, joined_reply
from intentforge.catalogue import load_catalogue
from intentforge.config import Settings, load_settings
from intentforge.errors import IntentforgeError
from intentforge.secrets import Secrets
from servers.todoist import TodoistServer

BUY_MILK = {"intent": "add_task", "parameters": {"content": "buy milk", "due": "tomorrow"}}


def settings_for(tmp_path: Path, server: TodoistServer, **actions: Any) -> Settings:
    return load_settings(
        None,
        {
            "actions": {
                "todoist_base_url": server.base_url,
                "state_dir": str(tmp_path / "state"),
                "retry_backoff_s": 0.0,
                "timeout_s": 2.0,
                **actions,
            }
        },
    )


def token(server: TodoistServer) -> Secrets:
    return Secrets(todoist_api_token=SecretStr(server.token))


def test_retried_request_with_same_key_creates_one_task(tmp_path, todoist_server):
    settings = settings_for(tmp_path, todoist_server)
    with ActionRunner(settings, token(todoist_server)) as runner:
        first = runner.act(BUY_MILK, idempotency_key="req-1")
    # A new process (fresh runner, same state dir) must still recognise the retry.
    with ActionRunner(settings, token(todoist_server)) as runner:
        retry = runner.act(BUY_MILK, idempotency_key="req-1")
    assert first.status == retry.status == ActionStatus.DONE
    assert not first.replayed and retry.replayed
    assert retry.data["task_id"] == first.data["task_id"]
    assert len(todoist_server.calls("POST", "/api/v1/tasks")) == 1
    assert len(todoist_server.tasks) == 1


def test_same_key_for_a_different_request_is_refused(tmp_path, todoist_server):
    with ActionRunner(settings_for(tmp_path, todoist_server), token(todoist_server)) as runner:
        runner.act(BUY_MILK, idempotency_key="req-1")
        other = {"intent": "add_task", "parameters": {"content": "buy bread"}}
        with pytest.raises(IntentforgeError, match="different request") as caught:
            runner.act(other, idempotency_key="req-1")
    assert caught.value.status_code == 409
    assert len(todoist_server.tasks) == 1


def test_failed_attempt_can_be_retried_with_the_same_key(tmp_path, todoist_server):
    settings = settings_for(tmp_path, todoist_server, max_retries=0)
    with ActionRunner(settings, token(todoist_server)) as runner:
        todoist_server.fail(503)
        failed = runner.act(BUY_MILK, idempotency_key="req-2")
        done = runner.act(BUY_MILK, idempotency_key="req-2")
    assert failed.status == ActionStatus.FAILED
    assert done.status == ActionStatus.DONE and not done.replayed
    assert len(todoist_server.tasks) == 1


def test_without_a_key_each_request_acts(tmp_path, todoist_server):
    with ActionRunner(settings_for(tmp_path, todoist_server), token(todoist_server)) as runner:
        runner.act(BUY_MILK)
        runner.act(BUY_MILK)
    posts = todoist_server.calls("POST", "/api/v1/tasks")
    assert len(todoist_server.tasks) == 2
    assert posts[0].headers["x-request-id"] != posts[1].headers["x-request-id"]


def test_dry_run_by_default_until_a_token_exists(tmp_path, todoist_server):
    with ActionRunner(settings_for(tmp_path, todoist_server), Secrets()) as runner:
        result = runner.act(BUY_MILK, idempotency_key="req-3")
    assert result.status == ActionStatus.DRY_RUN
    assert result.reply == "Dry run: I would add 'buy milk' to Inbox, due tomorrow."
    assert result.data["plan"]["due_string"] == "tomorrow"
    assert todoist_server.requests == []
    # The dry run is not stored: once the token is set, the same key acts for real.
    with ActionRunner(settings_for(tmp_path, todoist_server), token(todoist_server)) as runner:
        assert runner.act(BUY_MILK, idempotency_key="req-3").status == ActionStatus.DONE


def test_forced_dry_run_sends_nothing_even_with_a_token(tmp_path, todoist_server):
    settings = settings_for(tmp_path, todoist_server, dry_run=True)
    with ActionRunner(settings, token(todoist_server)) as runner:
        assert runner.act(BUY_MILK).status == ActionStatus.DRY_RUN
    assert todoist_server.requests == []


def test_forced_real_run_without_token_says_what_to_set(tmp_path, todoist_server):
    settings = settings_for(tmp_path, todoist_server, dry_run=False)
    with ActionRunner(settings, Secrets()) as runner:
        result = runner.act(BUY_MILK)
    assert result.status == ActionStatus.FAILED
    assert result.error == "not_configured"
    assert result.reply == "I can't do that yet: set TODOIST_API_TOKEN."


def test_task_confirmation_when_configured(tmp_path, todoist_server):
    settings = settings_for(tmp_path, todoist_server, confirm_tasks=True)
    with ActionRunner(settings, token(todoist_server)) as runner:
        asked = runner.act(BUY_MILK)
        assert asked.reply == "Shall I add 'buy milk' to Inbox, due tomorrow?"
        assert todoist_server.tasks == []
        done = runner.act(confirm=asked.confirmation_token)
    assert done.status == ActionStatus.DONE
    assert done.reply == "Added 'buy milk' to Inbox, due tomorrow."
    assert len(todoist_server.tasks) == 1


def test_out_of_scope_is_a_polite_no(tmp_path, todoist_server):
    with ActionRunner(settings_for(tmp_path, todoist_server), Secrets()) as runner:
        result = runner.act({"intent": "none", "parameters": {}})
    assert result.status == ActionStatus.DONE
    assert result.reply == NONE_REPLY == "Sorry, I can't help with that yet."
    assert result.action is None


def test_invalid_call_is_refused_before_acting(tmp_path, todoist_server):
    with (
        ActionRunner(settings_for(tmp_path, todoist_server), token(todoist_server)) as runner,
        pytest.raises(IntentforgeError, match="priority"),
    ):
        runner.act({"intent": "add_task", "parameters": {"content": "x", "priority": 9}})
    assert todoist_server.requests == []


def test_a_call_missing_a_required_slot_is_asked_about_and_never_run(tmp_path, todoist_server):
    settings = settings_for(tmp_path, todoist_server, dry_run=False)
    with ActionRunner(settings, token(todoist_server)) as runner:
        task = runner.act({"intent": "add_task", "parameters": {"due": "tomorrow"}})
        email = runner.act(
            {"intent": "send_email", "parameters": {"subject": "the party"}}, idempotency_key="k"
        )
        # The key was not spent on the question: the completed call runs under it.
        done = runner.act(BUY_MILK, idempotency_key="k")
    assert task.status == ActionStatus.NEEDS_CLARIFICATION
    assert (task.reply, task.error, task.data) == (
        "What should I add?",
        "missing_slot",
        {"missing": ["content"]},
    )
    assert (task.intent, task.action) == ("add_task", "todoist")
    assert email.status == ActionStatus.NEEDS_CLARIFICATION
    assert email.reply == "Who should I send it to?" and email.action == "smtp"
    assert done.status == ActionStatus.DONE
    assert len(todoist_server.requests) == 1  # only the complete task reached Todoist


def test_user_intent_with_its_own_executor(tmp_path, todoist_server, monkeypatch):
    package = tmp_path / "lights_plugin.py"
    package.write_text(
        textwrap.dedent(
            """
            from typing import ClassVar
            from intentforge.actions import ActionResult, ActionStatus, Plan

            class LightsPlan(Plan):
                room: str

            class Lights:
                name: ClassVar[str] = "lights"
                side_effects: ClassVar[bool] = True
                credentials_hint: ClassVar[str] = "nothing"
                plan_type: ClassVar[type[Plan]] = LightsPlan
                switched: ClassVar[list[str]] = []

                def has_credentials(self, ctx):
                    return True

                def needs_confirmation(self, ctx):
                    return False

                def plan(self, call, ctx):
                    room = call.parameters["room"]
                    return LightsPlan(summary=f"turn off the {room} lights", room=room)

                def run(self, plan, ctx):
                    self.switched.append(plan.room)
                    return ActionResult(status=ActionStatus.DONE, reply="Done.")
            """
        )
    )
    intents = tmp_path / "intents.yaml"
    intents.write_text(
        "intents:\n"
        "  - name: lights_off\n"
        "    description: Turn off the lights in a room.\n"
        "    action: lights_plugin:Lights\n"
        "    parameters:\n"
        "      room: {type: string, required: true}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = settings_for(tmp_path, todoist_server)
    catalogue = load_catalogue([intents])
    result = act(
        {"intent": "lights_off", "parameters": {"room": "kitchen"}},
        settings,
        Secrets(),
        catalogue=catalogue,
        idempotency_key="k",
    )
    assert result.status == ActionStatus.DONE and result.action == "lights"
    assert sys.modules["lights_plugin"].Lights.switched == ["kitchen"]


def test_user_intent_without_an_action_says_so(tmp_path, todoist_server):
    intents = tmp_path / "intents.yaml"
    intents.write_text("intents:\n  - name: play_music\n    description: Play music.\n")
    settings = settings_for(tmp_path, todoist_server)
    result = act({"intent": "play_music"}, settings, Secrets(), catalogue=load_catalogue([intents]))
    assert result.status == ActionStatus.DONE
    assert result.reply == "I understood that (play music), but no action is set up for it yet."


def test_unknown_action_name_is_a_clear_error(tmp_path, todoist_server):
    intents = tmp_path / "intents.yaml"
    intents.write_text("intents:\n  - name: dance\n    description: Dance.\n    action: disco\n")
    settings = settings_for(tmp_path, todoist_server)
    with pytest.raises(IntentforgeError, match="unknown action 'disco'"):
        act({"intent": "dance"}, settings, Secrets(), catalogue=load_catalogue([intents]))


def test_unwritable_state_dir_is_a_clear_error(tmp_path, todoist_server):
    blocker = tmp_path / "file"
    blocker.write_text("")
    settings = settings_for(tmp_path, todoist_server, state_dir=str(blocker / "state"))
    runner = ActionRunner(settings, Secrets())  # opening is lazy: a server still starts
    with pytest.raises(IntentforgeError, match="state_dir") as caught:
        runner.act(BUY_MILK, idempotency_key="k")
    assert caught.value.status_code == 503


def test_the_calls_of_one_request_run_in_order_each_with_its_own_result(tmp_path, todoist_server):
    settings = settings_for(tmp_path, todoist_server, dry_run=False)
    calls = [
        (BUY_MILK, {}),
        ({"intent": "none", "parameters": {}}, {}),
        ({"intent": "send_email", "parameters": {}}, {}),
        ({"intent": "add_task", "parameters": {"content": "call the garage"}}, {}),
    ]
    with ActionRunner(settings, token(todoist_server)) as runner:
        results = runner.act_calls(calls, idempotency_key="req-7")
        retried = runner.act_calls(calls, idempotency_key="req-7")
    assert [r.status for r in results] == [
        ActionStatus.DONE,
        ActionStatus.DONE,
        ActionStatus.NEEDS_CLARIFICATION,
        ActionStatus.DONE,
    ]
    assert [r.intent for r in results] == ["add_task", "none", "send_email", "add_task"]
    assert results[1].reply == NONE_REPLY and results[2].reply == "Who should I send it to?"
    posted = [r.body["content"] for r in todoist_server.calls("POST", "/api/v1/tasks")]
    assert posted == ["buy milk", "call the garage"]  # in the order said, once each
    assert results[3].data["task_id"] != results[0].data["task_id"]
    assert retried[0].replayed and retried[3].replayed
    assert joined_reply([r.reply for r in results]).startswith(results[0].reply + " " + NONE_REPLY)
