"""Audio decoding and validation: every way an upload can be unusable gets a clear error."""

from __future__ import annotations

import io
import wave
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from intentforge.voice.audio import (
    SAMPLE_RATE,
    AudioError,
    NoSpeechError,
    decode_audio,
    normalise_wav,
    wav_bytes,
    wav_duration_s,
)

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "add_milk.wav"


def tone(seconds: float, rate: int, *, channels: int = 1, level: float = 0.3) -> bytes:
    """A WAV of a 440 Hz tone (16-bit) at `rate`."""
    t = np.arange(int(seconds * rate)) / rate
    mono = (level * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    frames = np.repeat(mono[:, None], channels, axis=1)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(channels)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames.tobytes())
    return buffer.getvalue()


def encode(samples: np.ndarray, container: str, codec: str, rate: int = 48_000) -> bytes:
    """Encode float mono samples at 16 kHz into `container` with `codec` (what browsers send)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        frame = av.AudioFrame.from_ndarray(
            (samples * 32767).astype(np.int16)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = Fraction(1, SAMPLE_RATE)
        frame.pts = 0
        for resampled in resampler.resample(frame):
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def test_example_wav_decodes_to_16khz_mono_of_the_same_length() -> None:
    data = EXAMPLE.read_bytes()
    audio = decode_audio(data, max_audio_s=30)
    assert audio.source_rate == 22_050
    assert audio.samples.dtype == np.float32
    assert audio.duration_s == pytest.approx(wav_duration_s(data), abs=0.02)
    assert 0.05 < float(np.max(np.abs(audio.samples))) <= 1.0


@pytest.mark.parametrize("rate", [8_000, 44_100, 48_000])
def test_other_sample_rates_and_stereo_are_resampled(rate: int) -> None:
    audio = decode_audio(tone(1.5, rate, channels=2), max_audio_s=30)
    assert audio.source_rate == rate
    assert audio.duration_s == pytest.approx(1.5, abs=0.02)


@pytest.mark.parametrize(
    ("container", "codec", "rate"), [("webm", "libopus", 48_000), ("ogg", "libopus", 48_000)]
)
def test_browser_formats_webm_and_ogg_opus_decode(container: str, codec: str, rate: int) -> None:
    original = decode_audio(EXAMPLE.read_bytes(), max_audio_s=30)
    data = encode(original.samples, container, codec, rate)
    audio = decode_audio(data, max_audio_s=30)
    assert audio.source_format.startswith(("matroska", "ogg"))
    assert audio.duration_s == pytest.approx(original.duration_s, abs=0.1)


def test_empty_upload_is_a_clear_error() -> None:
    with pytest.raises(AudioError, match="empty"):
        decode_audio(b"", max_audio_s=30)


@pytest.mark.parametrize(
    "data", [b"hello, this is text not audio" * 10, b"RIFF\x00\x00\x00\x00WAVEjunk", bytes(300)]
)
def test_bytes_that_are_not_audio_are_refused(data: bytes) -> None:
    with pytest.raises(AudioError, match="send WAV, WebM, OGG"):
        decode_audio(data, max_audio_s=30)


def test_a_wav_with_a_header_and_no_samples_is_refused() -> None:
    with pytest.raises(AudioError, match="no samples"):
        decode_audio(wav_bytes(np.zeros(0, dtype=np.float32), SAMPLE_RATE), max_audio_s=30)


def test_audio_longer_than_the_limit_is_refused() -> None:
    with pytest.raises(AudioError, match=r"longer than 2 s"):
        decode_audio(tone(3.0, 16_000), max_audio_s=2)


def test_sample_rate_too_low_for_speech_is_refused() -> None:
    with pytest.raises(AudioError, match="4000 Hz, too low"):
        decode_audio(tone(1.0, 4_000), max_audio_s=30)


def test_digital_silence_is_no_speech() -> None:
    silent = wav_bytes(np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE)
    with pytest.raises(NoSpeechError, match="silent"):
        decode_audio(silent, max_audio_s=30)


def test_errors_carry_http_statuses() -> None:
    assert AudioError("x").status_code == 400
    assert NoSpeechError().status_code == 422


def test_streamed_wav_header_with_placeholder_sizes_is_repaired() -> None:
    good = tone(0.5, 22_050)
    # What espeak-ng --stdout writes: RIFF and data sizes set to 0x7FFFFFFF-ish placeholders.
    broken = good[:4] + b"\xff\xff\xff\x7f" + good[8:40] + b"\x00\xf0\xff\x7f" + good[44:]
    fixed = normalise_wav(broken)
    assert fixed == good
    with wave.open(io.BytesIO(fixed), "rb") as src:
        assert src.getnframes() == int(0.5 * 22_050)
