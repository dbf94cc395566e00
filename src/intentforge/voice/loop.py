"""The voice pipeline: audio -> transcript -> intent -> action -> spoken reply, timed per stage.

The stages are handed in (a transcriber, a parse function, an act function, a speaker), so the CLI,
the server's /v1/voice and the tests share this one sequence while each supplies its own parser
and runner. Its text part, `answer` (parse, then act), is also what the Wyoming service runs on a
transcript from Home Assistant. Several requests in one sentence are acted on in the order said and
their replies joined.
Microphone capture lives here too: an energy endpointer decides when an utterance starts and ends.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

import numpy as np

from intentforge.actions.result import joined_reply
from intentforge.errors import IntentforgeError
from intentforge.voice.audio import SAMPLE_RATE, NoSpeechError, decode_audio, wav_bytes
from intentforge.voice.stt import Transcriber
from intentforge.voice.tts import Speaker

log = logging.getLogger(__name__)

STAGES = ("decode", "stt", "parse", "act", "tts")
T = TypeVar("T")


class Call(Protocol):
    """One call of a parse (intentforge.runtime.CallResult)."""

    @property
    def call(self) -> Any: ...

    @property
    def resolved(self) -> Mapping[str, Any]: ...

    @property
    def missing(self) -> tuple[str, ...]: ...

    @property
    def question(self) -> str | None: ...


class Parsed(Call, Protocol):
    """What the runtime's parser returns (intentforge.runtime.ParseResult): its first call's
    fields, and every call."""

    @property
    def calls(self) -> Sequence[Call]: ...

    @property
    def waiting(self) -> Call | None: ...

    @property
    def conversation_id(self) -> str | None: ...


class Acted(Protocol):
    """What the action runner returns (intentforge.actions.ActionResult)."""

    @property
    def reply(self) -> str: ...

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


# (text, conversation_id): the conversation_id of the turn whose question the text answers.
ParseFn = Callable[[str, str | None], Parsed]
ActFn = Callable[[Any, Mapping[str, Any]], Acted]
P = TypeVar("P", bound=Parsed)
A = TypeVar("A", bound=Acted)


class Stages:
    """Times the stages of one turn into `timings_ms`; `on_stage(name, ms)` hears each as it
    ends, so a caller can record it even when a later stage fails."""

    def __init__(self, on_stage: Callable[[str, float], None] | None = None) -> None:
        self.timings_ms: dict[str, float] = {}
        self.on_stage = on_stage

    def run(self, stage: str, work: Callable[..., T], *args: Any) -> T:
        started = time.perf_counter()
        value = work(*args)
        self.record(stage, _ms_since(started))
        return value

    def record(self, stage: str, ms: float) -> None:
        self.timings_ms[stage] = ms
        if self.on_stage is not None:
            self.on_stage(stage, ms)


@dataclass
class Answered(Generic[P, A]):
    """A request carried through parse and act: what was understood and what came of it, one
    outcome per call in the order said."""

    parsed: P
    outcomes: list[A]

    @property
    def outcome(self) -> A:
        """The first call's outcome."""
        return self.outcomes[0]

    @property
    def reply(self) -> str:
        """What to speak back: each call's reply, in order."""
        return joined_reply([o.reply for o in self.outcomes])


def answer(
    text: str, parse: Callable[[str], P], act: Callable[[Any, Mapping[str, Any]], A], stages: Stages
) -> Answered[P, A]:
    """The turn after speech-to-text: parse the request, act on each of its calls in the order
    said, say what came of them.

    The one place where a parse becomes actions and a reply: the voice pipeline runs it on
    what it heard, the Wyoming service on the transcript Home Assistant sends.
    """
    parsed = stages.run("parse", parse, text)

    def act_each() -> list[A]:
        return [act(c.call, c.resolved) for c in parsed.calls]

    return Answered(parsed, stages.run("act", act_each))


@dataclass
class VoiceTurn:
    """One request and its answer, with how long each stage took."""

    transcript: str
    intent: dict[str, Any]
    resolved: dict[str, Any]
    result: dict[str, Any]
    reply: str
    reply_wav: bytes
    audio_s: float
    timings_ms: dict[str, float] = field(default_factory=dict)
    missing: tuple[str, ...] = ()
    question: str | None = None
    # Set when the reply is a question: the next turn, the answer, goes with it.
    conversation_id: str | None = None
    # Every call in the order said, each with its result; `intent` and `result` are the first.
    calls: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, *, include_audio: bool = True) -> dict[str, Any]:
        """The API's answer; the reply audio travels as base64 WAV."""
        body: dict[str, Any] = {
            "transcript": self.transcript,
            "intent": self.intent,
            "missing": list(self.missing),
            "question": self.question,
            "conversation_id": self.conversation_id,
            "resolved": self.resolved,
            "result": self.result,
            "reply": self.reply,
            "calls": self.calls,
            "audio_s": round(self.audio_s, 3),
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }
        if include_audio:
            body["reply_audio"] = {
                "format": "wav",
                "base64": base64.b64encode(self.reply_wav).decode("ascii"),
            }
        return body


class VoicePipeline:
    """Runs one utterance through every stage; raises IntentforgeError at the first failure.

    The one voice turn: `intentforge voice` hands in a Parser and an ActionRunner, the server its
    worker pool (so the queue bound covers voice too) and the app's runner. `on_stage(name, ms)`
    hears each stage as it ends (see Stages).
    """

    def __init__(
        self,
        transcriber: Transcriber,
        parse: ParseFn,
        act: ActFn,
        speaker: Speaker,
        *,
        max_audio_s: float = 30.0,
        on_stage: Callable[[str, float], None] | None = None,
    ) -> None:
        self.transcriber = transcriber
        self.parse = parse
        self.act = act
        self.speaker = speaker
        self.max_audio_s = max_audio_s
        self.on_stage = on_stage

    def run(self, data: bytes, conversation_id: str | None = None) -> VoiceTurn:
        """The whole turn for one recording (WAV, WebM, OGG... bytes); with `conversation_id`
        (of the turn before, which asked a question) the recording is the answer.

        A call missing a slot is not acted on: the reply is its question, and the turn's
        `conversation_id` goes with the next recording. Raises AudioError for unusable audio
        and NoSpeechError when nothing was said, before the parser sees anything.
        """
        started = time.perf_counter()
        stages = Stages(self.on_stage)
        audio = stages.run("decode", decode_audio, data, self.max_audio_s)
        heard = self.transcriber.transcribe(audio)
        stages.record("stt", heard.latency_ms)
        if not heard.text:
            raise NoSpeechError()
        answered = answer(
            heard.text, lambda said: self.parse(said, conversation_id), self.act, stages
        )
        parsed = answered.parsed
        waiting = parsed.waiting
        reply_wav = stages.run("tts", self.speaker.speak, answered.reply)
        timings = stages.timings_ms
        timings["total"] = _ms_since(started)
        log.info("voice turn: %s", " ".join(f"{k}={v:.0f}ms" for k, v in timings.items()))
        return VoiceTurn(
            transcript=heard.text,
            intent=_call_dict(parsed.calls[0].call),
            resolved=dict(parsed.calls[0].resolved),
            result=answered.outcome.model_dump(mode="json"),
            reply=answered.reply,
            reply_wav=reply_wav,
            audio_s=audio.duration_s,
            timings_ms=timings,
            missing=tuple(waiting.missing) if waiting else (),
            question=waiting.question if waiting else None,
            conversation_id=parsed.conversation_id,
            calls=[
                {
                    **_call_dict(c.call),
                    "resolved": dict(c.resolved),
                    "result": o.model_dump(mode="json"),
                }
                for c, o in zip(parsed.calls, answered.outcomes, strict=True)
            ],
        )


def _call_dict(call: Any) -> dict[str, Any]:
    if hasattr(call, "to_dict"):
        return dict(call.to_dict())
    return dict(call)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


class Endpointer:
    """Finds one utterance in a stream of audio blocks by energy: it starts when the level rises
    well above the noise floor measured at the start, and ends after `silence_s` of quiet."""

    def __init__(
        self,
        *,
        block_s: float = 0.03,
        calibrate_s: float = 0.3,
        silence_s: float = 0.8,
        max_s: float = 15.0,
        min_level: float = 0.01,
    ) -> None:
        self.block_s = block_s
        self._calibrate_blocks = max(1, round(calibrate_s / block_s))
        self._silence_blocks = max(1, round(silence_s / block_s))
        self._max_blocks = max(1, round(max_s / block_s))
        self._min_level = min_level
        self._levels: list[float] = []
        self._threshold = min_level
        self._pre_roll: list[np.ndarray] = []
        self._speech: list[np.ndarray] = []
        self._quiet = 0
        self.done = False

    @property
    def started(self) -> bool:
        return bool(self._speech)

    def feed(self, block: np.ndarray) -> bool:
        """Add a block of float32 samples; True once the utterance is complete."""
        if self.done:
            return True
        level = float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) if len(block) else 0.0
        if len(self._levels) < self._calibrate_blocks and not self._speech:
            self._levels.append(level)
            self._threshold = max(self._min_level, 3.0 * float(np.median(self._levels)))
            self._pre_roll = [*self._pre_roll[-5:], block]
            return False
        if not self._speech:
            if level < self._threshold:
                # Keep a little audio from before the onset so the first syllable is not clipped.
                self._pre_roll = [*self._pre_roll[-5:], block]
                return False
            self._speech = [*self._pre_roll, block]
            return False
        self._speech.append(block)
        self._quiet = self._quiet + 1 if level < self._threshold else 0
        if self._quiet >= self._silence_blocks or len(self._speech) >= self._max_blocks:
            self.done = True
        return self.done

    def utterance(self) -> np.ndarray:
        """The samples of the utterance found so far (empty when nobody spoke)."""
        if not self._speech:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._speech).astype(np.float32)


def _sounddevice() -> Any:
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise IntentforgeError(
            f"microphone support is unavailable ({exc}); install PortAudio "
            "(apt-get install libportaudio2) or use --wav FILE"
        ) from None
    return sounddevice


def require_microphone() -> dict[str, Any]:
    """The default input device, or a clear error when there is none (checked before loading
    any model, so a machine without a microphone fails in a second, not after a load)."""
    sd = _sounddevice()
    try:
        return dict(sd.query_devices(kind="input"))
    except Exception:  # PortAudioError when there is no input device at all
        raise IntentforgeError(
            "no microphone found (no default input device); plug one in or use --wav FILE"
        ) from None


def record_utterance(max_s: float, *, wait_s: float = 10.0) -> bytes:
    """Listen on the default input device until one utterance ends; return it as WAV bytes."""
    sd = _sounddevice()
    device = require_microphone()
    endpointer = Endpointer(max_s=max_s)
    block = int(SAMPLE_RATE * endpointer.block_s)
    waited_blocks = 0
    try:
        with sd.InputStream(
            samplerate=SAMPLE_RATE, channels=1, dtype="float32", blocksize=block, device=None
        ) as stream:
            while True:
                samples, _overflowed = stream.read(block)
                if endpointer.feed(samples.reshape(-1)):
                    break
                if not endpointer.started:
                    waited_blocks += 1
                    if waited_blocks * endpointer.block_s > wait_s:
                        raise NoSpeechError(f"no speech heard in {wait_s:g} s of listening")
    except sd.PortAudioError as exc:
        raise IntentforgeError(f"cannot record from {device['name']!r}: {exc}") from None
    return wav_bytes(endpointer.utterance(), SAMPLE_RATE)


def play_wav(data: bytes) -> bool:
    """Play WAV bytes on the default output device; False when there is none."""
    import io
    import wave

    sd = _sounddevice()
    try:
        sd.query_devices(kind="output")
    except Exception:  # PortAudioError: no output device
        return False
    with wave.open(io.BytesIO(data), "rb") as src:
        rate = src.getframerate()
        frames = np.frombuffer(src.readframes(src.getnframes()), dtype=np.int16)
    sd.play(frames, rate, blocking=True)
    return True
