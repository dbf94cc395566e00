"""`intentforge act` as a real subprocess against the local Todoist and SMTP servers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

CLI = [sys.executable, "-c", "from intentforge.cli import main; main()", "act"]
SECRET_VARS = ("TODOIST_API_TOKEN", "SMTP_PASSWORD", "GMAIL_APP_PASSWORD", "INTENTFORGE_CONFIG")


def run_act(
    tmp_path: Path, args: list[str], actions: dict[str, Any], **secrets: str
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "intentforge.yaml"
    config.write_text(
        yaml.safe_dump(
            {"actions": {"state_dir": str(tmp_path / "state"), "retry_backoff_s": 0, **actions}}
        )
    )
    env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
    env = {k: v for k, v in env.items() if not k.startswith("INTENTFORGE_")}
    env.update(secrets)
    return subprocess.run(
        [*CLI, "-c", str(config), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


CALL_MUM = {"intent": "add_task", "parameters": {"content": "call mum", "due": "tomorrow at 6"}}


def test_json_call_creates_the_task(tmp_path, todoist_server):
    done = run_act(
        tmp_path,
        ["--json", json.dumps(CALL_MUM), "--idempotency-key", "cli-1"],
        {"todoist_base_url": todoist_server.base_url},
        TODOIST_API_TOKEN=todoist_server.token,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Added 'call mum' to Inbox, due tomorrow at 6.\n"
    again = run_act(
        tmp_path,
        ["--json", json.dumps(CALL_MUM), "--idempotency-key", "cli-1", "--output-json"],
        {"todoist_base_url": todoist_server.base_url},
        TODOIST_API_TOKEN=todoist_server.token,
    )
    result = json.loads(again.stdout)["result"]
    assert result["replayed"] is True and result["status"] == "done"
    assert [t["content"] for t in todoist_server.tasks] == ["call mum"]
    assert todoist_server.token not in done.stdout + done.stderr + again.stdout + again.stderr


def test_without_token_it_is_a_dry_run(tmp_path, todoist_server):
    done = run_act(
        tmp_path, ["--json", json.dumps(CALL_MUM)], {"todoist_base_url": todoist_server.base_url}
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Dry run: I would add 'call mum' to Inbox, due tomorrow at 6.\n"
    assert todoist_server.requests == []


def test_email_waits_for_confirm_then_sends(tmp_path, smtp_server):
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("Mum: mum@example.com\n")
    actions = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "smtp_user": smtp_server.user,
        "smtp_ca_file": str(smtp_server.cert),
        "contacts_file": str(contacts),
    }
    call = {"intent": "send_email", "parameters": {"to": "mum", "body": "on my way"}}
    asked = run_act(
        tmp_path,
        ["--json", json.dumps(call), "--output-json"],
        actions,
        SMTP_PASSWORD=smtp_server.password,
    )
    result = json.loads(asked.stdout)["result"]
    assert result["status"] == "needs_confirmation"
    assert smtp_server.messages == []
    sent = run_act(
        tmp_path,
        ["--confirm", result["confirmation_token"]],
        actions,
        SMTP_PASSWORD=smtp_server.password,
    )
    assert sent.returncode == 0, sent.stderr
    assert sent.stdout == "Sent the e-mail to Mum.\n"
    assert smtp_server.messages[0].get_content().strip() == "on my way"


def test_failure_exits_1_and_bad_input_exits_2(tmp_path, todoist_server):
    todoist_server.stop()
    failed = run_act(
        tmp_path,
        ["--json", json.dumps(CALL_MUM)],
        {"todoist_base_url": todoist_server.base_url, "max_retries": 0},
        TODOIST_API_TOKEN="t",
    )
    assert failed.returncode == 1
    assert failed.stdout == "Todoist isn't answering right now; please try again in a minute.\n"
    bad = run_act(tmp_path, ["--json", "{not json"], {})
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: --json is not valid JSON")
