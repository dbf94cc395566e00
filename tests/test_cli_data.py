"""`intentforge data generate|split|stats` run as a real subprocess: outputs, and user errors as one
line on stderr with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

INTENTFORGE = Path(sys.executable).parent / "intentforge"


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("INTENTFORGE_") and k not in {"OPENROUTER_API_KEY", "OPENAI_API_KEY"}
    }
    env["COLUMNS"] = "120"
    return subprocess.run(
        [str(INTENTFORGE), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def assert_user_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr  # one line, no traceback
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0]


def test_generate_split_stats_end_to_end(tmp_path):
    result = run(tmp_path, "data", "generate", "--rows", "300", "--seed", "5")
    assert result.returncode == 0, result.stderr
    generated = tmp_path / "build" / "data" / "generated.jsonl"
    rows = [json.loads(line) for line in generated.read_text().splitlines()]
    assert len(rows) == 300
    # 18 % of the rows say several requests (54 rows, 11 of them three), joined from 65 more
    # generated ones: the out-of-scope share holds over the requests said.
    said = [c["intent"] for r in rows for c in r.get("calls", [r])]
    assert round(365 * 0.3) == said.count("none") and len(said) == 365
    assert "add_task(content, due)" in result.stdout and "length in words" in result.stdout
    assert "wrote 300 rows" in result.stderr

    again = run(tmp_path, "data", "generate", "-n", "300", "--seed", "5", "-o", "again.jsonl")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "again.jsonl").read_text() == generated.read_text()

    result = run(  # the input defaults to what `data generate` wrote
        tmp_path, "data", "split", "--train-rows", "200", "--test-rows", "50", "--out-dir", "splits"
    )
    assert result.returncode == 0, result.stderr
    train = (tmp_path / "splits" / "train.jsonl").read_text().splitlines()
    test = (tmp_path / "splits" / "test.jsonl").read_text().splitlines()
    assert (len(train), len(test)) == (200, 50)
    assert not {json.loads(x)["text"] for x in train} & {json.loads(x)["text"] for x in test}
    assert "split by intent" in result.stdout

    held_out = tmp_path / "dev"
    held_out.mkdir()
    (held_out / "a.jsonl").write_text(json.dumps({"text": json.loads(test[0])["text"]}) + "\n")
    result = run(tmp_path, "data", "split", "-x", "dev", "-o", "again", "--test-rows", "50")
    assert result.returncode == 0, result.stderr
    assert "1 excluded" in result.stderr
    again_texts = (tmp_path / "again" / "test.jsonl").read_text()
    assert json.loads(test[0])["text"] not in again_texts

    result = run(tmp_path, "data", "stats", "splits/test.jsonl", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["rows"] == 50


def test_generate_for_a_user_intent_from_the_config(tmp_path, fixtures_dir):
    config = tmp_path / "intentforge.yaml"
    config.write_text(
        f"catalogue:\n  files: [{fixtures_dir / 'user_intents.yaml'}]\n"
        "data:\n  rows: 100\n  none_fraction: 0.1\n"
    )
    result = run(tmp_path, "data", "generate", "--out", "mine.jsonl")
    assert result.returncode == 0, result.stderr
    rows = [json.loads(x) for x in (tmp_path / "mine.jsonl").read_text().splitlines()]
    assert (
        len(rows) == 100
        and sum(c["intent"] == "set_thermostat" for r in rows for c in r.get("calls", [r])) >= 22
    )
    # Without the config, the dataset has an intent the catalogue does not know.
    result = run(tmp_path, "data", "stats", "mine.jsonl", "--config", "/dev/null")
    assert_user_error(result, "mine.jsonl:", "unknown intent 'set_thermostat'")


def test_malformed_config_file(tmp_path):
    (tmp_path / "bad.yaml").write_text("data:\n  rows: [1, 2\n")
    result = run(tmp_path, "data", "generate", "--config", "bad.yaml")
    assert_user_error(result, "config file bad.yaml is not valid YAML")
    (tmp_path / "wrong.yaml").write_text("data:\n  rowz: 12\n")
    assert_user_error(run(tmp_path, "data", "generate", "-c", "wrong.yaml"), "data.rowz")


@pytest.mark.parametrize(
    ("fixture", "needle"),
    [
        ("bad_slot_type.yaml", "slot set_colour.colour has type 'colour'"),
        ("duplicate_intent.yaml", "'add_task' is declared twice"),
        ("empty_lexicon.yaml", "intent set_colour slot colour has no values"),
    ],
)
def test_bad_user_intents(tmp_path, fixtures_dir, fixture, needle):
    config = tmp_path / "c.yaml"
    config.write_text(f"catalogue:\n  files: [{fixtures_dir / fixture}]\n")
    result = run(tmp_path, "data", "generate", "--rows", "50", "--config", str(config))
    assert_user_error(result, needle)
    assert not (tmp_path / "build").exists() or not list((tmp_path / "build").rglob("*.jsonl"))


def test_unwritable_output_location(tmp_path):
    (tmp_path / "blocker").write_text("a file where a directory should be")
    result = run(tmp_path, "data", "generate", "--rows", "20", "--out", "blocker/sub/out.jsonl")
    assert_user_error(result, "cannot write blocker/sub/out.jsonl", "writable")
    result = run(tmp_path, "data", "split", "x.jsonl", "--out-dir", "blocker")
    assert_user_error(result, "cannot write blocker/train.jsonl")


def test_bad_dataset_files(tmp_path):
    (tmp_path / "broken.jsonl").write_text('{"id": "1", "text": "hi"\n')
    broken = run(tmp_path, "data", "split", "broken.jsonl")
    assert_user_error(broken, "broken.jsonl:1: not valid JSON")
    absent = run(tmp_path, "data", "stats", "absent.jsonl")
    assert_user_error(absent, "absent.jsonl: dataset not found")


def test_bad_option_values(tmp_path):
    result = run(tmp_path, "data", "generate", "--none-fraction", "0.9", "--out", "x.jsonl")
    assert_user_error(result, "data.none_fraction")
    result = run(tmp_path, "data", "generate", "--rows", "0", "--out", "x.jsonl")
    assert_user_error(result, "data.rows")


def test_llm_generator_without_a_key_says_which_variable_to_set(tmp_path):
    result = run(
        tmp_path, "data", "generate", "--generator", "llm", "--rows", "10", "-o", "l.jsonl"
    )
    assert_user_error(result, "OPENROUTER_API_KEY")


def test_help_explains_every_option(tmp_path):
    result = run(tmp_path, "data", "generate", "--help")
    assert result.returncode == 0
    for option in ("--generator", "--rows", "--seed", "--none-fraction", "--out", "--config"):
        assert option in result.stdout
    split_help = run(tmp_path, "data", "split", "--help").stdout
    for option in ("--train-rows", "--test-rows", "--out-dir", "--near-threshold"):
        assert option in split_help
