"""Speechify: rows spoken by espeak-ng and heard by Whisper, kept only when their slots survive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.config import VoiceConfig
from intentforge.errors import IntentforgeError
from intentforge.voice.audio import Audio
from intentforge.voice.roundtrip import RoundTrip
from intentforge.voice.speechify import dropped_path, find_span, relabel, speechify
from intentforge.voice.stt import Transcript, WhisperTranscriber, transcriber_from
from intentforge.voice.tts import EspeakSpeaker

ROWS = [
    {
        "id": "t-1",
        "text": "Add milk to my shopping list",
        "intent": "add_task",
        "parameters": {"content": "milk", "project": "shopping"},
        "source": "templates",
    },
    {
        "id": "t-2",
        "text": "email bob@example.com that the report is ready",
        "intent": "send_email",
        "parameters": {"to": "bob@example.com", "body": "the report is ready"},
        "source": "templates",
    },
    {
        "id": "t-3",
        "text": "urgent: remind me to call the dentist",
        "intent": "add_task",
        "parameters": {"content": "call the dentist", "priority": 1},
        "source": "templates",
    },
]


class CountingTranscriber:
    """The real transcriber, counting the utterances it is given."""

    def __init__(self, inner: WhisperTranscriber) -> None:
        self.inner = inner
        self.key = inner.key
        self.calls = 0

    def transcribe(self, audio: Audio) -> Transcript:
        self.calls += 1
        return self.inner.transcribe(audio)


@pytest.fixture(scope="module")
def transcriber() -> WhisperTranscriber:
    return transcriber_from(VoiceConfig())


def espeak(transcriber: Any) -> RoundTrip:
    return RoundTrip({"en": EspeakSpeaker()}, transcriber)


def read(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize(
    ("value", "transcript", "found"),
    [
        ("tomorrow at 9am", "Remind me tomorrow at 9am.", "tomorrow at 9am"),
        ("sarah", "Email Sarah, please.", "Sarah"),
        ("New York", "weather in new york, tomorrow", "new york"),
        ("I'll be late", "tell her I'll be late", "I'll be late"),
        ("I'll be late", "tell her I will be late", None),
        ("cat", "a category of things", None),
        ("...", "anything", None),
    ],
)
def test_find_span_matches_words_in_order_ignoring_case_and_punctuation(
    value: str, transcript: str, found: str | None
) -> None:
    assert find_span(value, transcript) == found


def test_relabel_respells_text_slots_as_heard_and_keeps_numbers() -> None:
    assert relabel({"content": "buy milk", "priority": 2}, "Buy milk, it's urgent.") == (
        {"content": "Buy milk", "priority": 2},
        [],
    )
    assert relabel({"due": "in two hours"}, "Defrost the chicken in 2 hours.") == (
        {"due": "in 2 hours"},
        [],
    )
    assert relabel({"due": "five thirty"}, "pick it up at 5.30") == ({"due": "5.30"}, [])
    assert relabel({"to": "bob@example.com", "body": "hi"}, "email bob at example dot com hi") == (
        None,
        ["to"],
    )


def test_rows_keep_labels_only_when_every_slot_survives_and_runs_resume(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    out = tmp_path / "speech.jsonl"
    catalogue = load_catalogue()
    counting = CountingTranscriber(transcriber)
    stats = speechify(ROWS, out, catalogue, espeak(counting))
    assert stats.kept + stats.dropped == 3 and counting.calls == 3
    kept = read(out)
    dropped = read(dropped_path(out))
    assert {r["speech_of"] for r in kept} | {r["speech_of"] for r in dropped} == {
        "t-1",
        "t-2",
        "t-3",
    }
    # An e-mail address is spoken as "bob at example dot com": never the label's span.
    assert "t-2" in {r["speech_of"] for r in dropped}
    assert "to" in next(r for r in dropped if r["speech_of"] == "t-2")["missing"]
    assert "t-1" in {r["speech_of"] for r in kept}
    for row in kept:
        assert row["source"] == "speech" and row["id"] == row["speech_of"] + "-speech"
        original = next(r for r in ROWS if r["id"] == row["speech_of"])
        assert row["original_text"] == original["text"] and row["intent"] == original["intent"]
        for slot, value in row["parameters"].items():
            assert not isinstance(value, str) or value in row["text"], (slot, row)
        catalogue.validate({"intent": row["intent"], "parameters": row["parameters"]})

    # A second run over more rows does only the new one, and never duplicates a row.
    extra = {**ROWS[0], "id": "t-4", "text": "Add eggs to my shopping list"}
    extra["parameters"] = {"content": "eggs", "project": "shopping"}
    again = speechify([*ROWS, extra], out, catalogue, espeak(counting))
    assert again.skipped == 3 and again.done == 1 and counting.calls == 4
    ids = [r["speech_of"] for r in read(out) + read(dropped_path(out))]
    assert sorted(ids) == ["t-1", "t-2", "t-3", "t-4"]


def test_a_line_cut_short_by_a_kill_is_redone(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    out = tmp_path / "speech.jsonl"
    out.write_text('{"speech_of": "t-1", "id": "t-1-speech", "te')
    stats = speechify(ROWS[:1], out, load_catalogue(), espeak(transcriber))
    assert stats.done == 1 and stats.skipped == 0
    assert [r["speech_of"] for r in read(out) + read(dropped_path(out))] == ["t-1"]


def test_a_foreign_file_as_output_is_refused(
    tmp_path: Path, transcriber: WhisperTranscriber
) -> None:
    out = tmp_path / "train.jsonl"
    out.write_text(json.dumps(ROWS[0]) + "\n")
    with pytest.raises(IntentforgeError, match=r"train\.jsonl:1: not a speechify row"):
        speechify(ROWS, out, load_catalogue(), espeak(transcriber))


def test_cli_speechify_reports_kept_and_dropped_rows(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out = tmp_path / "out.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", "from intentforge.cli import main; main()", "data", "speechify",
         str(source), str(out), "--limit", "2", "--voice", "en"],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
        env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "kept 1 rows" in done.stderr and "dropped 1 (50 %)" in done.stderr
    assert "slots lost in recognition: to 1" in done.stderr
    assert len(read(out)) + len(read(dropped_path(out))) == 2
