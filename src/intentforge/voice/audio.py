"""Audio in and out: decode any upload (WAV, WebM, OGG, MP3...) to 16 kHz mono, and write WAV.

Decoding goes through PyAV (bundled FFmpeg, a dependency of faster-whisper), so browsers' WebM/Opus
and OGG uploads need nothing installed on the system. Every way audio can be unusable ends in an
IntentforgeError that says what was wrong, before any model sees it.
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

from intentforge.errors import IntentforgeError

SAMPLE_RATE = 16_000
# Below this, speech is too band-limited for recognition (telephone audio is 8 kHz).
MIN_SOURCE_RATE = 8_000
# Peak amplitude (of 1.0) under which a recording holds nothing but hiss or digital silence.
SILENCE_PEAK = 0.003
_FORMATS = "WAV, WebM, OGG, MP3 or FLAC"


class AudioError(IntentforgeError):
    """The audio cannot be used: empty, not audio, too long, too low a sample rate, silent."""

    status_code = 400


class NoSpeechError(IntentforgeError):
    """The audio decoded fine but nobody said anything in it (never turned into a command)."""

    status_code = 422

    def __init__(self, message: str = "") -> None:
        super().__init__(
            message or "no speech heard in the audio; speak closer to the microphone and try again"
        )


@dataclass(frozen=True)
class Audio:
    """Decoded audio: float32 mono samples in [-1, 1] at `SAMPLE_RATE`, and where it came from."""

    samples: np.ndarray
    source_rate: int
    source_format: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def decode_audio(data: bytes, max_audio_s: float) -> Audio:
    """Decode `data` (any container FFmpeg knows) to 16 kHz mono float32; resamples as needed.

    Raises AudioError for empty input, non-audio, a source rate under 8 kHz, more than
    `max_audio_s` seconds, or a recording that is silent throughout.
    """
    import av

    if not data:
        raise AudioError("the audio is empty (0 bytes); record or upload a WAV, WebM or OGG file")
    max_samples = int(max_audio_s * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", metadata_errors="ignore") as container:
            if not container.streams.audio:
                raise AudioError(f"the file has no audio track; send {_FORMATS} audio")
            stream = container.streams.audio[0]
            source_rate = int(stream.rate or stream.codec_context.sample_rate or 0)
            if 0 < source_rate < MIN_SOURCE_RATE:
                raise AudioError(
                    f"the audio's sample rate is {source_rate} Hz, too low for speech recognition; "
                    f"record at {MIN_SOURCE_RATE} Hz or more (16 kHz is ideal)"
                )
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1)
                    chunks.append(chunk)
                    total += len(chunk)
                if total > max_samples:
                    raise AudioError(
                        f"the audio is longer than {max_audio_s:g} s; send one short request "
                        "(or raise voice.max_audio_s)"
                    )
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
            format_name = container.format.name
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, EOFError) as exc:
        raise AudioError(
            f"could not decode the audio ({type(exc).__name__}); send {_FORMATS} audio"
        ) from None
    if not chunks or sum(len(c) for c in chunks) == 0:
        raise AudioError("the audio holds no samples; record again and send the file")
    samples = np.concatenate(chunks).astype(np.float32) / 32768.0
    if len(samples) > max_samples:
        raise AudioError(
            f"the audio is longer than {max_audio_s:g} s; send one short request "
            "(or raise voice.max_audio_s)"
        )
    if float(np.max(np.abs(samples))) < SILENCE_PEAK:
        raise NoSpeechError("the audio is silent; check that the microphone is on and not muted")
    return Audio(samples=samples, source_rate=source_rate, source_format=format_name)


def wav_bytes(samples: np.ndarray, sample_rate: int) -> bytes:
    """16-bit PCM mono WAV of float samples in [-1, 1] (or int16 samples as they are)."""
    if samples.dtype != np.int16:
        samples = (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(samples.tobytes())
    return buffer.getvalue()


def normalise_wav(data: bytes) -> bytes:
    """Rewrite a WAV whose header lies about its length (espeak-ng --stdout streams with a
    placeholder size) into one every reader accepts."""
    try:
        with wave.open(io.BytesIO(data), "rb") as src:
            params = src.getparams()
            frames = src.readframes(params.nframes)
    except (wave.Error, EOFError) as exc:
        raise IntentforgeError(f"the speech engine wrote invalid WAV audio: {exc}") from None
    usable = len(frames) - len(frames) % (params.sampwidth * params.nchannels)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(params.nchannels)
        out.setsampwidth(params.sampwidth)
        out.setframerate(params.framerate)
        out.writeframes(frames[:usable])
    return buffer.getvalue()


def wav_duration_s(data: bytes) -> float:
    """Length of a WAV file in seconds."""
    with wave.open(io.BytesIO(data), "rb") as src:
        return src.getnframes() / float(src.getframerate())
