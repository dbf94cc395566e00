"""The JSONL ledger: fsynced checkpoints, torn tails cut away, one writer at a time."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from intentforge.catalogue import Catalogue, load_catalogue
from intentforge.data.ledger import Ledger
from intentforge.errors import IntentforgeError


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return load_catalogue()


def row(n: int, intent: str = "none", **parameters: Any) -> dict[str, Any]:
    return {"id": f"r{n}", "text": f"request {n}", "intent": intent, "parameters": parameters,
            "source": "llm"}  # fmt: skip


def test_checkpoints_append_whole_lines_that_read_back(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    path = tmp_path / "sub" / "ledger.jsonl"
    with Ledger(path, catalogue) as ledger:
        assert ledger.rows == []
        assert ledger.append([row(1), row(2, "get_weather", location="Paris")]) == 2
        assert ledger.append([]) == 0
        assert ledger.append([row(3)]) == 1
    data = path.read_bytes()
    assert data.endswith(b"\n") and data.count(b"\n") == 3
    with Ledger(path, catalogue) as ledger:
        assert ledger.rows == [row(1), row(2, "get_weather", location="Paris"), row(3)]
        assert ledger.truncated_bytes == 0


def test_a_torn_last_line_is_cut_and_the_complete_ones_kept(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.jsonl"
    whole = "".join(json.dumps(row(n)) + "\n" for n in range(3)).encode()
    torn = b'{"id": "r3", "text": "requ'
    path.write_bytes(whole + torn)
    with Ledger(path, catalogue) as ledger:
        assert [r["id"] for r in ledger.rows] == ["r0", "r1", "r2"]
        assert ledger.truncated_bytes == len(torn)
        ledger.append([row(3)])
    assert path.read_bytes() == whole + (json.dumps(row(3), separators=(",", ":")) + "\n").encode()


def test_a_corrupt_line_in_the_middle_is_a_clear_error(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text('{"id": 1\n' + json.dumps(row(2)) + "\n", encoding="utf-8")
    with pytest.raises(IntentforgeError, match=r"ledger\.jsonl:1: not valid JSON"):
        Ledger(path, catalogue).open()


def test_rows_the_catalogue_does_not_know_are_a_clear_error(
    catalogue: Catalogue, tmp_path: Path
) -> None:
    path = tmp_path / "ledger.jsonl"
    path.write_text(json.dumps(row(1, "set_timer")) + "\n", encoding="utf-8")
    with pytest.raises(IntentforgeError, match=r":1: does not fit the current catalogue"):
        Ledger(path, catalogue).open()
    path.write_text(json.dumps({"text": "hi"}) + "\n", encoding="utf-8")
    with pytest.raises(IntentforgeError, match=r":1: not a dataset row"):
        Ledger(path, catalogue).open()


def test_only_one_writer_at_a_time(catalogue: Catalogue, tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    with Ledger(path, catalogue), pytest.raises(IntentforgeError, match="already writing"):
        Ledger(path, catalogue).open()
    with Ledger(path, catalogue) as again:  # the lock goes with the first writer
        assert again.rows == []


def test_an_unwritable_place_is_a_clear_error(catalogue: Catalogue, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(IntentforgeError, match="cannot write the ledger"):
        Ledger(blocker / "ledger.jsonl", catalogue).open()
