"""JSONL datasets: atomic writes, one reader of labelled rows (strict or lenient) whose errors
name file and line, rows validated by the catalogue."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.data.jsonl import (
    check_writable,
    read_dataset,
    read_jsonl,
    row_calls,
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
    with pytest.raises(IntentforgeError, match=r"bad\.jsonl:3: not valid JSON"):
        read_jsonl(path)
    path.write_text("[1, 2]\n")
    with pytest.raises(IntentforgeError, match=r"bad\.jsonl:1: expected a JSON object"):
        read_jsonl(path)
    with pytest.raises(IntentforgeError, match=r"absent\.jsonl: dataset not found"):
        read_jsonl(tmp_path / "absent.jsonl")
    with pytest.raises(IntentforgeError, match="a directory, not a JSONL"):
        read_jsonl(tmp_path)


def _problem_files(tmp_path):
    """One good row, then a file for each problem the reader must report: a line that is not
    JSON, a row the catalogue refuses, an empty file and a file that does not exist."""
    good = tmp_path / "good.jsonl"
    write_jsonl(good, [GOOD])
    malformed = tmp_path / "malformed.jsonl"
    malformed.write_text(json.dumps({**GOOD, "id": "a2"}) + "\n" + '{"id": "x", "text": \n')
    refused = tmp_path / "refused.jsonl"
    write_jsonl(refused, [{**GOOD, "id": "a3"}, {**GOOD, "id": "a4", "intent": "play_music"}])
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    return good, malformed, refused, empty, tmp_path / "absent.jsonl"


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (1, r"malformed\.jsonl:2: not valid JSON"),
        (2, r"refused\.jsonl:2: unknown intent"),
        (3, r"empty\.jsonl: no rows"),
        (4, r"absent\.jsonl: dataset not found"),
    ],
)
def test_a_strict_read_stops_at_the_first_problem_naming_file_and_line(
    tmp_path, catalogue, index, message
):
    files = _problem_files(tmp_path)
    with pytest.raises(IntentforgeError, match=message) as info:
        read_dataset([files[0], files[index]], catalogue)
    assert "\n" not in str(info.value)


def test_a_lenient_read_skips_and_counts_each_problem_with_the_same_message(tmp_path, catalogue):
    files = _problem_files(tmp_path)
    skipped: list[str] = []
    rows = read_dataset(files, catalogue, skipped=skipped)
    assert [r["id"] for r in rows] == ["a1", "a2", "a3"]
    assert len(skipped) == 4
    for message, pattern in zip(
        skipped,
        [r"malformed\.jsonl:2: not valid JSON", r"refused\.jsonl:2: unknown intent",
         r"empty\.jsonl: no rows", r"absent\.jsonl: dataset not found"],
        strict=True,
    ):  # fmt: skip
        assert re.match(f"^{re.escape(str(tmp_path))}/{pattern}", message), message
        with pytest.raises(IntentforgeError) as strict:
            read_dataset(Path(message.split(":")[0]), catalogue)
        assert str(strict.value) == message


def test_folders_are_read_file_by_file_in_name_order(tmp_path, catalogue):
    folder = tmp_path / "dev"
    folder.mkdir()
    write_jsonl(folder / "b.jsonl", [{**GOOD, "id": "b1"}, {**GOOD, "id": "b2"}])
    write_jsonl(folder / "a.jsonl", [GOOD])
    (folder / "notes.txt").write_text("not a dataset")
    assert [r["id"] for r in read_dataset(folder, catalogue)] == ["a1", "b1", "b2"]
    (tmp_path / "none").mkdir()
    with pytest.raises(IntentforgeError, match=r"none: no \*\.jsonl files"):
        read_dataset(tmp_path / "none", catalogue)


def test_gold_rows_without_a_catalogue_need_text_and_intent_only(tmp_path):
    path = tmp_path / "one.jsonl"
    path.write_text(json.dumps({"text": "play jazz", "intent": "none"}) + "\n")
    assert read_dataset(path) == [
        {"text": "play jazz", "intent": "none", "id": "one-1", "parameters": {}}
    ]
    path.write_text(json.dumps(GOOD) + "\n" + json.dumps({"text": "no intent"}) + "\n")
    with pytest.raises(IntentforgeError, match=r"one\.jsonl:2: row lacks the key\(s\) intent"):
        read_dataset(path)


def test_validate_row_canonicalises_parameters(catalogue):
    row = validate_row(GOOD, catalogue)
    assert row["parameters"] == {"content": "buy milk", "due": "tomorrow"}
    assert row["style"] == "whisper"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"intent": "play_music"}, "unknown intent"),
        ({"parameters": {"content": "", "due": "tomorrow"}}, "content"),
        ({"parameters": {"content": "x", "priority": 9}}, "priority"),
        ({"source": "web"}, "source 'web' is not one of"),
        ({"text": "  "}, "text must be a non-empty string"),
        ({"id": 7}, "id must be a non-empty string"),
    ],
)
def test_invalid_rows_are_rejected_with_file_and_line(tmp_path, catalogue, change, message):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [GOOD, {**GOOD, **change}])
    with pytest.raises(IntentforgeError, match=f"rows.jsonl:2: .*{message}"):
        read_dataset(path, catalogue)


def test_a_row_that_leaves_a_required_slot_out_is_read_as_asking_for_it(tmp_path, catalogue):
    path = tmp_path / "rows.jsonl"
    asking = {**GOOD, "text": "remind me tomorrow", "parameters": {"due": "tomorrow"}}
    write_jsonl(path, [GOOD, asking])
    rows = read_dataset(path, catalogue)
    assert rows[1]["parameters"] == {"due": "tomorrow"}


def test_a_row_without_required_keys_says_which(catalogue):
    with pytest.raises(IntentforgeError, match="lacks the key\\(s\\) id, source"):
        validate_row({"text": "x", "intent": "none", "parameters": {}}, catalogue)


MULTI = {
    "id": "m1",
    "text": "remind me to buy milk tomorrow and turn on the lights",
    "intent": "add_task",
    "parameters": {"content": "buy milk", "due": "tomorrow"},
    "calls": [
        {"intent": "add_task", "parameters": {"due": "tomorrow", "content": "buy milk"}},
        {"intent": "none", "parameters": {}},
    ],
    "source": "dev",
}


def test_a_row_of_several_calls_is_read_with_each_call_validated(tmp_path, catalogue):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [GOOD, MULTI])
    plain, multi = read_dataset(path, catalogue)
    assert row_calls(plain) == [{"intent": "add_task", "parameters": plain["parameters"]}]
    assert row_calls(multi) == [
        {"intent": "add_task", "parameters": {"content": "buy milk", "due": "tomorrow"}},
        {"intent": "none", "parameters": {}},
    ]
    gold = read_dataset(path)  # gold labels for eval: calls kept, parameters defaulted
    assert [c["intent"] for c in row_calls(gold[1])] == ["add_task", "none"]


@pytest.mark.parametrize(
    ("calls", "message"),
    [
        (
            [{"intent": "add_task", "parameters": {"content": "buy milk", "due": "tomorrow"}}],
            "2 to 3",
        ),
        ([MULTI["calls"][1], MULTI["calls"][0]], "first call"),
        ([MULTI["calls"][0], {"intent": "fly", "parameters": {}}], "unknown intent"),
        ([MULTI["calls"][0], "none"], "each of row calls"),
    ],
)
def test_bad_calls_are_rejected_with_file_and_line(tmp_path, catalogue, calls, message):
    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [{**MULTI, "calls": calls}])
    with pytest.raises(IntentforgeError, match=f"rows.jsonl:1: .*{message}"):
        read_dataset(path, catalogue)


def test_the_multi_request_dev_set_reads_and_holds_at_least_60_rows(catalogue):
    rows = read_dataset(Path(__file__).resolve().parents[1] / "data" / "dev-multi", catalogue)
    assert len(rows) >= 60
    assert all(len(row_calls(r)) >= 2 for r in rows)
