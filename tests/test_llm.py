"""The LLM dataset generator against a scripted OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from intentforge.catalogue import OUT_OF_SCOPE, Catalogue, load_catalogue
from intentforge.config import LLMConfig
from intentforge.data.ledger import Ledger
from intentforge.data.llm import generate_with_llm as generate
from intentforge.data.llm.plan import (
    Job,
    RowSpec,
    intent_quotas,
    optional_slots_of,
    slot_combinations,
)
from intentforge.data.llm.prompt import build_messages
from intentforge.data.llm.reply import InvalidRow, check_row
from intentforge.data.llm.workers import CHECKPOINT_ROWS
from intentforge.errors import IntentforgeError, UpstreamError
from llm_server import FakeLLMServer

USER_INTENTS = """
intents:
  - name: set_timer
    description: Start a kitchen timer.
    parameters:
      duration: {type: string, required: true, description: "How long, as spoken: 'ten minutes'."}
      label: {type: string, description: "What the timer is for.", values: [pasta, eggs]}
    examples: ["set a timer for {duration}", "{label} timer for {duration}"]
"""


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


@pytest.fixture
def server(catalogue: Catalogue) -> Iterator[FakeLLMServer]:
    with FakeLLMServer(catalogue) as fake:
        yield fake


def config_for(server: FakeLLMServer, **changes: Any) -> LLMConfig:
    values: dict[str, Any] = {"base_url": server.url, "concurrency": 3, "backoff_s": 0.01}
    return LLMConfig(**{**values, **changes})


def read_ledger(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def assert_complete_and_valid(
    catalogue: Catalogue, rows: list[dict[str, Any]], total: int, none_fraction: float = 0.12
) -> None:
    assert len(rows) == total
    assert len({r["id"] for r in rows}) == total, "duplicate ids"
    assert len({r["text"] for r in rows}) == total, "duplicate texts"
    assert Counter(r["intent"] for r in rows) == {
        name: n for name, n in intent_quotas(catalogue, total, none_fraction).items() if n
    }
    for row in rows:
        assert set(row) == {"id", "text", "intent", "parameters", "source", "style"}
        assert row["source"] == "llm"
        call = catalogue.validate({"intent": row["intent"], "parameters": row["parameters"]})
        assert call.parameters == row["parameters"]
        for value in row["parameters"].values():
            if isinstance(value, str):
                assert value in row["text"]


def test_generation_survives_every_fault_and_ends_complete_and_valid(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    server.enqueue("ok", "malformed", "invalid", "429", "500", "drop", "fenced", "doubled")
    ledger = tmp_path / "ledger.jsonl"
    progress: list[tuple[int, int]] = []
    report = generate(
        catalogue,
        config_for(server, extra_body={"reasoning": {"max_tokens": 0}}),
        "sk-test",
        rows=250,
        ledger=ledger,
        seed=7,
        on_progress=lambda done, total: progress.append((done, total)),
    )
    rows = read_ledger(ledger)
    assert_complete_and_valid(catalogue, rows, 250)
    assert report.rows_written == 250 and report.rows_resumed == 0
    assert report.invalid_responses == 1
    assert report.invalid_rows == len(server.invalid_rows_for(build_prompt(catalogue)))
    assert report.duplicate_rows == 10  # every row of the "doubled" reply came twice
    assert report.retries == 3  # 429, 500 and the dropped connection
    # The openai client's own retries are off: every request it sent is one the report counts.
    assert report.requests == len(server.seen)
    assert all(seen.headers["authorization"] == "Bearer sk-test" for seen in server.seen)
    assert all(seen.body["reasoning"] == {"max_tokens": 0} for seen in server.seen)
    assert all(seen.body["response_format"] == {"type": "json_object"} for seen in server.seen)
    answered = sum(1 for s in server.seen if s.action not in ("429", "500", "drop"))
    assert report.cost_usd == pytest.approx(0.0005 * answered)
    assert report.prompt_tokens > 0 and report.completion_tokens > 0
    assert report.rows_per_intent == dict(Counter(r["intent"] for r in rows))
    assert progress[-1] == (250, 250)
    assert report.summary().startswith("250 rows written (0 already in the ledger)")
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def build_prompt(catalogue: Catalogue) -> str:
    job = Job("add_task", (RowSpec(("due",), "short"),))
    return str(build_messages(catalogue, job)[-1]["content"])


def test_rate_limits_wait_for_retry_after_or_back_off_when_it_is_unreadable(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    server.enqueue("429", "429-date", "429-soon", "503-soon")
    report = generate(
        catalogue, config_for(server, concurrency=1), None, rows=5, ledger=tmp_path / "l", seed=1
    )
    assert report.retries == 4 and report.rows_written == 5
    at = [seen.at_s for seen in server.seen]
    assert at[1] - at[0] >= 0.95
    assert at[2] - at[1] >= 0.95  # the date was 2 s ahead, in whole seconds
    assert at[3] - at[2] < 0.9  # "soon" is no wait: backoff_s (0.01) applies
    assert at[4] - at[3] < 0.9


def test_retries_are_bounded_then_a_clear_error_and_written_rows_stay(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    server.enqueue("ok", "ok", "ok", *["500"] * 10)
    ledger = tmp_path / "ledger.jsonl"
    config = config_for(server, concurrency=1, max_retries=2)
    with pytest.raises(UpstreamError, match=r"kept failing \(HTTP 500\) after 2 retries.*resume"):
        generate(catalogue, config, None, rows=100, ledger=ledger, seed=1)
    assert len(server.seen) == 3 + 3
    rows = read_ledger(ledger)
    assert len(rows) == 30  # the three good replies, written although short of a checkpoint
    server.script.clear()
    report = generate(catalogue, config, None, rows=100, ledger=ledger, seed=1)
    assert report.rows_resumed == 30 and report.rows_written == 70
    assert_complete_and_valid(catalogue, read_ledger(ledger), 100)


def test_dropped_connections_are_retried_then_reported(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    server.enqueue(*["drop"] * 3)
    config = config_for(server, concurrency=1, max_retries=2)
    with pytest.raises(UpstreamError, match=r"kept failing \(no answer\)"):
        generate(catalogue, config, None, rows=10, ledger=tmp_path / "l", seed=1)
    assert len(server.seen) == 3


def test_client_errors_are_not_retried_and_name_the_key(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    server.enqueue("401")
    with pytest.raises(UpstreamError, match=r"HTTP 401.*OPENROUTER_API_KEY"):
        generate(
            catalogue,
            config_for(server, concurrency=1),
            "bad",
            rows=10,
            ledger=tmp_path / "l",
            seed=1,
        )
    assert len(server.seen) == 1


def test_a_remote_endpoint_without_a_key_is_refused_before_any_request(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    with pytest.raises(IntentforgeError, match="set OPENROUTER_API_KEY"):
        generate(catalogue, LLMConfig.model_validate({}), None, rows=10, ledger=ledger, seed=1)
    assert not ledger.exists()


def test_replies_without_usable_rows_stop_the_run_instead_of_looping(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    server.enqueue(*["invalid"] * 10)
    with pytest.raises(UpstreamError, match=r"10 replies in a row.*no usable rows"):
        generate(
            catalogue,
            config_for(server, concurrency=1),
            None,
            rows=10,
            ledger=tmp_path / "l",
            seed=1,
        )


def test_concurrency_is_bounded_and_slot_combinations_are_balanced(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    with FakeLLMServer(catalogue, delay_s=0.05, cost=None) as server:
        report = generate(
            catalogue, config_for(server, rows_per_request=5), None, rows=400, ledger=ledger, seed=3
        )
        assert 2 <= server.max_in_flight <= 3
    assert report.cost_usd is None  # a server that reports no cost gets no made-up figure
    rows = read_ledger(ledger)
    assert_complete_and_valid(catalogue, rows, 400)
    quotas = intent_quotas(catalogue, 400, 0.12)
    for intent in catalogue.intents:
        combos = Counter(
            optional_slots_of(intent, r["parameters"]) for r in rows if r["intent"] == intent.name
        )
        expected = slot_combinations(intent)
        assert set(combos) == set(expected)
        low = quotas[intent.name] // len(expected)
        assert all(low <= n <= low + 1 for n in combos.values()), combos


def test_rerun_generates_only_what_is_missing(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    generate(catalogue, config_for(server), None, rows=120, ledger=ledger, seed=1)
    first = read_ledger(ledger)
    report = generate(catalogue, config_for(server), None, rows=200, ledger=ledger, seed=2)
    assert (report.rows_resumed, report.rows_written) == (120, 80)
    rows = read_ledger(ledger)
    assert rows[:120] == first
    assert_complete_and_valid(catalogue, rows, 200)
    sent = len(server.seen)
    again = generate(catalogue, config_for(server), None, rows=200, ledger=ledger, seed=3)
    assert (again.rows_resumed, again.rows_written, len(server.seen)) == (200, 0, sent)


def test_a_torn_trailing_line_is_cut_away_on_resume(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    generate(catalogue, config_for(server), None, rows=50, ledger=ledger, seed=1)
    whole = ledger.read_bytes()
    with ledger.open("ab") as f:
        f.write(b'{"id":"llm-torn","text":"remind me to')  # a checkpoint cut by SIGKILL
    report = generate(catalogue, config_for(server), None, rows=60, ledger=ledger, seed=1)
    assert report.rows_resumed == 50
    assert ledger.read_bytes().startswith(whole)
    assert_complete_and_valid(catalogue, read_ledger(ledger), 60)


def test_a_dataset_from_another_generator_is_not_taken_for_a_ledger(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    ledger = tmp_path / "generated.jsonl"
    row = {"id": "t1", "text": "play jazz", "intent": "none", "parameters": {}}
    ledger.write_text(json.dumps({**row, "source": "templates"}) + "\n", encoding="utf-8")
    with pytest.raises(IntentforgeError, match="holds rows from templates"):
        generate(catalogue, config_for(server), None, rows=10, ledger=ledger, seed=1)
    assert server.seen == []


def test_a_second_writer_on_the_same_ledger_is_refused(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    ledger = tmp_path / "ledger.jsonl"
    with Ledger(ledger, catalogue), pytest.raises(IntentforgeError, match="already writing"):
        generate(catalogue, config_for(server), None, rows=10, ledger=ledger, seed=1)


def test_an_unwritable_ledger_is_a_clear_error(
    catalogue: Catalogue, server: FakeLLMServer, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(IntentforgeError, match="cannot write the ledger"):
        generate(catalogue, config_for(server), None, rows=10, ledger=blocker / "l.jsonl", seed=1)


_DRIVER = """
import sys
from pathlib import Path
from intentforge.catalogue import load_catalogue
from intentforge.config import LLMConfig
from intentforge.data.llm import generate_with_llm

url, ledger, rows = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
config = LLMConfig(base_url=url, concurrency=2, rows_per_request=5, backoff_s=0.01)
report = generate_with_llm(load_catalogue(), config, None, rows=rows, ledger=ledger, seed=5)
print(report.rows_resumed, report.rows_written)
"""


def test_killed_generation_resumes_without_duplicates_or_losses(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    ledger, total = tmp_path / "ledger.jsonl", 400
    command = [sys.executable, "-c", _DRIVER]
    with FakeLLMServer(catalogue, delay_s=0.05) as server:
        proc = subprocess.Popen([*command, server.url, str(ledger), str(total)])
        deadline = time.monotonic() + 60
        while not (ledger.exists() and ledger.read_bytes().count(b"\n") >= CHECKPOINT_ROWS):
            assert proc.poll() is None, "the generator ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 60 s"
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=10) == -signal.SIGKILL
        at_kill = ledger.read_bytes()
        kept = at_kill[: at_kill.rfind(b"\n") + 1].decode().splitlines()
        assert CHECKPOINT_ROWS <= len(kept) < total

        done = subprocess.run(
            [*command, server.url, str(ledger), str(total)],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    assert done.stdout.split() == [str(len(kept)), str(total - len(kept))]
    final = ledger.read_text(encoding="utf-8").splitlines()
    assert final[: len(kept)] == kept
    assert_complete_and_valid(catalogue, [json.loads(line) for line in final], total)


def test_prompts_are_derived_from_the_catalogue_including_user_intents(tmp_path: Path) -> None:
    intents = tmp_path / "intents.yaml"
    intents.write_text(USER_INTENTS, encoding="utf-8")
    catalogue = load_catalogue([intents])
    timer = build_messages(
        catalogue, Job("set_timer", (RowSpec(("label",), "terse", None, "a chef"),))
    )
    text = str(timer[-1]["content"])
    assert 'intent "set_timer": Start a kitchen timer.' in text
    assert "- duration (text, required): How long, as spoken: 'ten minutes'." in text
    assert "- label (text, optional): What the timer is for. For example: pasta, eggs." in text
    assert '"set a timer for {duration}"' in text
    assert "1. slots: label | speaker: a chef | style: terse" in text
    task = str(build_messages(catalogue, Job("add_task", (RowSpec((), "x"),)))[-1]["content"])
    assert "- priority (integer 1 to 4, optional)" in task
    none = build_messages(catalogue, Job(OUT_OF_SCOPE, (RowSpec((), "x", "timers"),)))
    assert "- set_timer: Start a kitchen timer." in str(none[-1]["content"])
    assert "1. topic: timers | style: x" in str(none[-1]["content"])

    ledger = tmp_path / "ledger.jsonl"
    with FakeLLMServer(catalogue) as server:
        generate(catalogue, config_for(server), None, rows=60, ledger=ledger, seed=1)
    assert_complete_and_valid(catalogue, read_ledger(ledger), 60)


def test_check_row_copies_spans_and_rejects_what_cannot_be_trained_on(
    catalogue: Catalogue,
) -> None:
    row = check_row(
        catalogue,
        "add_task",
        {
            "text": "  remind me to  Buy Milk tomorrow ",
            "parameters": {"content": "buy milk", "due": "tomorrow"},
        },
    )
    assert row["text"] == "remind me to Buy Milk tomorrow"
    assert row["parameters"] == {"content": "Buy Milk", "due": "tomorrow"}
    assert row["id"].startswith("llm-") and row["source"] == "llm"
    assert row["style"] == "typed"
    said = {"text": "add milk, it's urgent", "parameters": {"content": "milk", "priority": 1}}
    assert check_row(catalogue, "add_task", said)["parameters"]["priority"] == 1
    assert check_row(catalogue, "none", {"text": "Play some jazz."})["style"] == "whisper"
    assert check_row(catalogue, "none", {"text": "um play some jazz"})["style"] == "lower"
    bad = [
        ("add_task", {"text": "remind me to buy milk", "parameters": {"content": "buy bread"}}),
        ("add_task", {"text": "add milk", "parameters": {"content": "milk", "priority": 9}}),
        ("add_task", {"text": "add milk", "parameters": {"content": "milk", "priority": 1}}),
        ("add_task", {"text": "add milk", "parameters": {"content": "milk", "colour": "red"}}),
        ("add_task", {"text": "add milk", "intent": "get_weather", "parameters": {}}),
        ("none", {"text": "play jazz", "parameters": {"genre": "jazz"}}),
        ("none", {"text": "?!", "parameters": {}}),
        ("none", {"text": "la " * 200, "parameters": {}}),
        ("none", ["play jazz"]),
        ("add_task", {"text": "remind me to {content}", "parameters": {"content": "{content}"}}),
        ("add_task", {"text": "add ... to my list", "parameters": {"content": "..."}}),
        ("none", {"text": "**play jazz**", "parameters": {}}),
    ]
    for intent, raw in bad:
        with pytest.raises(InvalidRow):
            check_row(catalogue, intent, raw)


def test_quotas_keep_the_out_of_scope_share_and_balance_the_rest(catalogue: Catalogue) -> None:
    assert intent_quotas(catalogue, 1000, 0.12) == {
        "add_task": 294,
        "get_weather": 293,
        "send_email": 293,
        "none": 120,
    }
    assert intent_quotas(load_catalogue(builtin=False), 10, 0.12) == {"none": 10}
