"""JSONL datasets: atomic writes, errors naming file and line, rows validated by the catalogue."""

from __future__ import annotations

import json
import os

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.data.jsonl import (
    check_writable,
    read_dataset,
    read_jsonl,
    validate_row,
    write_jsonl,
)
from intentforge.errors import IntentforgeError

GOOD = {
    "id": "a1",
    "text": "Remind me to buy milk tomorrow.",
    "intent": "add_task",
    "parameters": {"due": "tomorrow", "content": "buy milk", "priority": None},
    "source": "dev",
    "style": "whisper",
}


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_write_then_read_round_trips_unicode_and_extra_keys(tmp_path):
    path = tmp_path / "deep" / "er" / "rows.jsonl"
    rows = [GOOD, {**GOOD, "id": "a2", "text": "Wetter in München?"}]
    write_jsonl(path, rows)
    assert read_jsonl(path) == rows
    assert "München" in path.read_text(encoding="utf-8")
    assert [p.name for p in path.parent.iterdir()] == ["rows.jsonl"]  # no temp file left


def test_a_failed_write_keeps_the_old_file_whole(tmp_path):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [GOOD])

    def rows_then_crash():
        yield GOOD
        raise RuntimeError("generator died")

    with pytest.raises(RuntimeError):
        write_jsonl(path, rows_then_crash())
    assert read_jsonl(path) == [GOOD]
    assert [p.name for p in tmp_path.iterdir()] == ["rows.jsonl"]


def test_unwritable_location_is_a_one_line_error(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for target in (blocker / "out.jsonl", blocker / "sub" / "out.jsonl"):
        with pytest.raises(IntentforgeError, match=r"cannot write .*choose a writable") as info:
            write_jsonl(target, [GOOD])
        assert "\n" not in str(info.value)
        with pytest.raises(IntentforgeError, match="cannot write"):
            check_writable(target)
    check_writable(tmp_path / "new" / "out.jsonl")
    assert os.listdir(tmp_path / "new") == []  # the probe cleans up


def test_malformed_json_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + '{"id": "x", "text": \n')
    with pytest.raises(IntentforgeError, match=r"bad.jsonl line 3: not valid JSON"):
        read_jsonl(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(IntentforgeError, match="line 1: expected a JSON object"):
        read_jsonl(path)
    with pytest.raises(IntentforgeError, match="dataset file not found"):
        read_jsonl(tmp_path / "absent.jsonl")
    with pytest.raises(IntentforgeError, match="is a directory"):
        read_jsonl(tmp_path)


def test_validate_row_canonicalises_parameters(catalogue):
    row = validate_row(GOOD, catalogue)
    assert row["parameters"] == {"content": "buy milk", "due": "tomorrow"}
    assert row["style"] == "whisper"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"intent": "play_music"}, "unknown intent"),
        ({"parameters": {"due": "tomorrow"}}, "content"),
        ({"parameters": {"content": "x", "priority": 9}}, "priority"),
        ({"source": "web"}, "source 'web' is not one of"),
        ({"text": "  "}, "text must be a non-empty string"),
        ({"id": 7}, "id must be a non-empty string"),
    ],
)
def test_invalid_rows_are_rejected_with_file_and_line(tmp_path, catalogue, change, message):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [GOOD, {**GOOD, **change}])
    with pytest.raises(IntentforgeError, match=f"rows.jsonl line 2: .*{message}"):
        read_dataset(path, catalogue)


def test_a_row_without_required_keys_says_which(catalogue):
    with pytest.raises(IntentforgeError, match="lacks the key\\(s\\) id, source"):
        validate_row({"text": "x", "intent": "none", "parameters": {}}, catalogue)
