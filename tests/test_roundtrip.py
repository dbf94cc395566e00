"""Speak then hear, cached by content hash: a rerun does no work, a change of settings does."""

from __future__ import annotations

from pathlib import Path

import pytest

from intentforge.config import VoiceConfig
from intentforge.voice.audio import Audio
from intentforge.voice.roundtrip import RoundTrip
from intentforge.voice.stt import Transcript, WhisperTranscriber, transcriber_from
from intentforge.voice.tts import EspeakSpeaker


class CountingSpeaker:
    """espeak-ng, counting the sentences it is asked to say."""

    def __init__(self, voice: str) -> None:
        self.inner = EspeakSpeaker(voice)
        self.key = self.inner.key
        self.calls = 0

    def speak(self, text: str) -> bytes:
        self.calls += 1
        return self.inner.speak(text)


class CountingTranscriber:
    """Whisper, counting the utterances it is given; `key` as if its settings were others."""

    def __init__(self, inner: WhisperTranscriber, key: str | None = None) -> None:
        self.inner = inner
        self.key = key or inner.key
        self.calls = 0

    def transcribe(self, audio: Audio) -> Transcript:
        self.calls += 1
        return self.inner.transcribe(audio)


@pytest.fixture(scope="module")
def whisper() -> WhisperTranscriber:
    return transcriber_from(VoiceConfig())


def test_a_second_run_reads_audio_and_transcripts_from_the_cache(
    tmp_path: Path, whisper: WhisperTranscriber
) -> None:
    speaker, transcriber = CountingSpeaker("en-us"), CountingTranscriber(whisper)
    first = RoundTrip({"en-us": speaker}, transcriber, cache_dir=tmp_path).hear(
        "play some jazz", speaker
    )
    assert (speaker.calls, transcriber.calls) == (1, 1)
    assert "jazz" in first.transcript.lower() and first.audio_s > 0.5 and first.stt_ms > 0
    again = RoundTrip({"en-us": speaker}, transcriber, cache_dir=tmp_path)
    assert again.hear("play some jazz", speaker) == first
    assert (speaker.calls, transcriber.calls) == (1, 1)
    assert not list(tmp_path.rglob(".*")), "no temporary file is left behind"


def test_other_recognition_settings_hear_again_from_the_cached_audio(
    tmp_path: Path, whisper: WhisperTranscriber
) -> None:
    speaker = CountingSpeaker("en-us")
    RoundTrip({"en-us": speaker}, CountingTranscriber(whisper), cache_dir=tmp_path).hear(
        "weather", speaker
    )
    other = CountingTranscriber(whisper, key=whisper.key + "+hotwords")
    RoundTrip({"en-us": speaker}, other, cache_dir=tmp_path).hear("weather", speaker)
    assert (speaker.calls, other.calls) == (1, 1)
    # Another voice is other audio.
    rp = CountingSpeaker("en-gb-x-rp")
    RoundTrip({"rp": rp}, other, cache_dir=tmp_path).hear("weather", rp)
    assert (rp.calls, other.calls) == (1, 2)


def test_without_a_cache_folder_nothing_is_written(
    tmp_path: Path, whisper: WhisperTranscriber, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    speaker = EspeakSpeaker("en-us")
    RoundTrip({"en-us": speaker}, whisper).hear("weather", speaker)
    assert list(tmp_path.iterdir()) == []
