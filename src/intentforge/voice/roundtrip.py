"""Say a text with a voice, then hear it with the speech-to-text: what the assistant would hear.

Both halves are cached on disk by content hash: the audio by (text, voice), the transcript by
(audio, speech-to-text settings). A rerun costs nothing, a killed run resumes where it stopped,
and a change of voice or of recognition settings misses the cache by itself. Entries are written
to a temporary file and renamed into place, so a kill never leaves half an entry.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from intentforge.errors import IntentforgeError
from intentforge.voice.audio import decode_audio
from intentforge.voice.stt import Transcriber
from intentforge.voice.tts import Speaker


@dataclass(frozen=True)
class Heard:
    """One text as spoken by one voice and transcribed; `stt_ms` is the time recognition took
    when it ran (a cached entry keeps the time of the run that made it)."""

    said: str
    voice: str
    transcript: str
    audio_s: float
    stt_ms: float


def _digest(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts).encode("utf-8")).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RoundTrip:
    """Speaks with any of `voices` (name -> speaker) and transcribes with `transcriber`; with
    `cache_dir`, audio goes to cache_dir/audio and transcripts to cache_dir/heard, each file named
    by its hash."""

    def __init__(
        self,
        voices: Mapping[str, Speaker],
        transcriber: Transcriber,
        *,
        cache_dir: Path | None = None,
        max_audio_s: float = 30.0,
    ) -> None:
        if not voices:
            raise IntentforgeError("speaking needs at least one text-to-speech voice")
        self.voices = dict(voices)
        self.transcriber = transcriber
        self._cache_dir = cache_dir
        self._max_audio_s = max_audio_s

    def _cached(self, folder: str, key: str, suffix: str) -> Path | None:
        if self._cache_dir is None:
            return None
        return self._cache_dir / folder / key[:2] / f"{key}{suffix}"

    def audio(self, text: str, speaker: Speaker) -> bytes:
        """`text` spoken by `speaker`, as WAV bytes."""
        path = self._cached("audio", _digest(speaker.key, text), ".wav")
        if path is not None and path.is_file():
            return path.read_bytes()
        wav = speaker.speak(text)
        if path is not None:
            _write_atomic(path, wav)
        return wav

    def hear(self, text: str, speaker: Speaker) -> Heard:
        """What the speech-to-text makes of `text` spoken by `speaker`."""
        path = self._cached("heard", _digest(speaker.key, text, self.transcriber.key), ".json")
        if path is not None and path.is_file():
            return Heard(**json.loads(path.read_text(encoding="utf-8")))
        audio = decode_audio(self.audio(text, speaker), self._max_audio_s)
        transcript = self.transcriber.transcribe(audio)
        heard = Heard(
            said=text,
            voice=speaker.key,
            transcript=transcript.text,
            audio_s=round(audio.duration_s, 3),
            stt_ms=round(transcript.latency_ms, 1),
        )
        if path is not None:
            _write_atomic(path, json.dumps(asdict(heard), ensure_ascii=False).encode("utf-8"))
        return heard
