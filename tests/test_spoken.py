"""The spoken judge: the same rows typed and heard through each voice, side by side."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from intentforge.catalogue import IntentCall, load_catalogue
from intentforge.config import VoiceConfig
from intentforge.evaluate.metrics import is_false_action
from intentforge.evaluate.predictors import Outcome
from intentforge.evaluate.spoken import NOTHING_HEARD, judge_spoken
from intentforge.voice.audio import Audio
from intentforge.voice.roundtrip import RoundTrip
from intentforge.voice.stt import Transcript, WhisperTranscriber, transcriber_from
from intentforge.voice.tts import EspeakSpeaker

INTENTFORGE = Path(sys.executable).parent / "intentforge"

ROWS = [
    {"id": "w", "text": "what's the weather like", "intent": "get_weather", "parameters": {},
     "set": "dev"},
    {"id": "n", "text": "play some jazz", "intent": "none", "parameters": {}, "set": "dev"},
    {"id": "w2", "text": "will it rain", "intent": "get_weather", "parameters": {},
     "set": "dev2"},
]  # fmt: skip


class KeywordPredictor:
    """Weather when it hears "weather" or "rain", otherwise nothing: a model without a model."""

    name, kind, path = "keywords", "rules", ""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def predict(self, text: str) -> Outcome:
        self.asked.append(text)
        weather = any(w in text.lower() for w in ("weather", "rain"))
        call = IntentCall("get_weather" if weather else "none", {})
        return Outcome(call, json.dumps(call.to_dict()), 1.0)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def whisper() -> WhisperTranscriber:
    return transcriber_from(VoiceConfig())


def test_typed_and_each_voice_are_judged_side_by_side_per_set(
    tmp_path: Path, whisper: WhisperTranscriber
) -> None:
    voices = {"espeak-ng:en-us": EspeakSpeaker("en-us")}
    round_trip = RoundTrip(voices, whisper, cache_dir=tmp_path)
    predictor = KeywordPredictor()
    results, figures = judge_spoken(predictor, ROWS, load_catalogue(), round_trip)

    assert [r.name for r in results] == ["typed", "spoken espeak-ng:en-us"]
    assert [(f.dataset, f.path, f.rows) for f in figures] == [
        ("dev", "typed", 2), ("dev2", "typed", 1),
        ("dev", "espeak-ng:en-us", 2), ("dev2", "espeak-ng:en-us", 1),
    ]  # fmt: skip
    typed = figures[0]
    assert (typed.intent_accuracy, typed.out_of_scope, typed.false_actions) == (1.0, 1, 0)
    assert typed.word_error_rate is None and typed.stt_p50_ms is None
    for spoken in figures[2:]:
        assert spoken.word_error_rate is not None and 0 <= spoken.word_error_rate <= 1
        assert spoken.stt_p50_ms is not None and spoken.stt_p50_ms > 0
    # The model read what was heard, and each distinct text only once.
    heard = [p.text for p in results[1].predictions]
    assert heard != [r["text"] for r in ROWS]
    assert len(predictor.asked) == len(set(predictor.asked))


class DeafTranscriber:
    """Hears no speech in anything (what voice activity detection reports on noise)."""

    key = "deaf"

    def transcribe(self, audio: Audio) -> Transcript:
        return Transcript("", "en", audio.duration_s, 1.0)


def test_nothing_heard_is_a_wrong_answer_and_never_an_action() -> None:
    round_trip = RoundTrip({"en-us": EspeakSpeaker("en-us")}, DeafTranscriber())
    predictor = KeywordPredictor()
    results, figures = judge_spoken(predictor, ROWS, load_catalogue(), round_trip)
    spoken = results[1].predictions
    assert [p.intent for p in spoken] == [None, None, None]
    assert {p.error for p in spoken} == {NOTHING_HEARD}
    assert not any(is_false_action(p) for p in spoken)
    assert [f.intent_accuracy for f in figures[2:]] == [0.0, 0.0]
    assert [f.word_error_rate for f in figures[2:]] == [1.0, 1.0]
    assert "" not in predictor.asked


def test_cli_spoken_writes_the_side_by_side_report_and_a_rerun_hears_nothing_again(
    tmp_path: Path, smollm2_gguf: Path
) -> None:
    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps(r) + "\n" for r in ROWS[:2]), encoding="utf-8")
    cache = tmp_path / "cache"
    command = [
        str(INTENTFORGE), "eval", str(smollm2_gguf), "--spoken", "--data", str(dev),
        "--voice", "espeak-ng:en-us", "--voice-cache", str(cache), "--out", str(tmp_path / "r"),
        "--max-tokens", "48", "--threads", "1",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "r" / "report.json").read_text(encoding="utf-8"))
    assert [(s["path"], s["rows"]) for s in report["spoken"]] == [
        ("typed", 2), ("espeak-ng:en-us", 2),
    ]  # fmt: skip
    assert [m["name"] for m in report["models"]] == ["typed", "spoken espeak-ng:en-us"]
    assert "Spoken and typed" in (tmp_path / "r" / "report.html").read_text(encoding="utf-8")
    cached = sorted(p.name for p in cache.rglob("*") if p.is_file())
    assert len(cached) == 4  # two sentences: their audio and their transcripts
    mtimes = {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()}
    again = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert again.returncode == 0, again.stderr
    assert {p: p.stat().st_mtime_ns for p in cache.rglob("*") if p.is_file()} == mtimes
