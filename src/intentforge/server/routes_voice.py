"""`POST /v1/voice`: recorded speech in, transcript, intent, action result and spoken reply out.

The speech models load on the first voice request (not at start-up), so a server that never hears
audio never pays for them, and a missing espeak-ng breaks only this endpoint, with a clear message.
Parsing goes through the app's worker pool like /v1/parse, so the queue bound covers voice too.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, File, Form, Request, UploadFile
from pydantic import BaseModel, Field

from intentforge.config import Secrets, Settings
from intentforge.errors import IntentforgeError
from intentforge.server.pool import ParserPool
from intentforge.server.security import require_api_key_to_act

router = APIRouter(tags=["voice"])


class ReplyAudio(BaseModel):
    format: str = Field("wav", description="Always 16-bit PCM WAV.")
    base64: str = Field(description="The WAV file, base64-encoded.")


class VoiceResponse(BaseModel):
    transcript: str = Field(description="What speech-to-text heard.")
    intent: dict[str, Any] = Field(description="{intent, parameters}: the parsed intent call.")
    resolved: dict[str, Any] = Field(description="Date slots resolved: {slot: {text, iso}}.")
    result: dict[str, Any] = Field(description="The action's result (status, reply, data...).")
    reply: str = Field(description="One sentence answering the request.")
    reply_audio: ReplyAudio = Field(description="The reply, spoken.")
    audio_s: float = Field(description="Length of the uploaded audio in seconds.")
    timings_ms: dict[str, float] = Field(
        description="Per-stage latency: decode, stt, parse, act, tts, total."
    )


class VoiceServices:
    """Speech-to-text, text-to-speech and an action runner, loaded once on first use."""

    def __init__(self, settings: Settings, secrets: Secrets) -> None:
        self.settings = settings
        self.secrets = secrets
        self._lock = threading.Lock()
        self._loaded: tuple[Any, Any, Any] | None = None

    def load(self, catalogue: Any) -> tuple[Any, Any, Any]:
        """(transcriber, speaker, action runner); thread-safe, loads once."""
        with self._lock:
            if self._loaded is None:
                from intentforge.actions import ActionRunner
                from intentforge.voice.stt import transcriber_from
                from intentforge.voice.tts import speaker_from

                speaker = speaker_from(self.settings.voice)
                transcriber = transcriber_from(self.settings.voice)
                runner = ActionRunner(self.settings, self.secrets, catalogue=catalogue)
                self._loaded = (transcriber, speaker, runner)
            return self._loaded

    def close(self) -> None:
        with self._lock:
            if self._loaded is not None:
                self._loaded[2].close()
                self._loaded = None


def configure(app: FastAPI) -> None:
    """Called by create_app: upload size limit, lazily loaded services, closed at shutdown."""
    settings: Settings = app.state.settings
    app.state.body_limits["/v1/voice"] = settings.voice.max_upload_bytes
    services = VoiceServices(settings, app.state.secrets)
    app.state.voice = services
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[Any]:
        async with inner(app) as state:
            try:
                yield state
            finally:
                services.close()

    app.router.lifespan_context = lifespan


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


@router.post(
    "/v1/voice",
    summary="Speech to intent to action to spoken reply",
    response_model=VoiceResponse,
    dependencies=[Depends(require_api_key_to_act)],
)
async def voice(
    request: Request,
    audio: UploadFile = File(
        description="One spoken request: WAV, WebM/Opus (browsers' MediaRecorder), OGG, MP3..."
    ),
    timezone: str | None = Form(
        None, description="IANA time zone of the speaker, for dates (default: runtime.timezone)."
    ),
) -> dict[str, Any]:
    """Transcribe the upload, parse it, act on it and speak the reply (base64 WAV).

    400 for unusable audio (empty, not audio, too long); 422 when no speech is heard or the
    model cannot produce a valid intent; 503 with Retry-After when the workers are busy.
    """
    from intentforge.voice.loop import VoiceTurn, hear

    started = time.perf_counter()
    pool: ParserPool | None = request.app.state.pool
    if pool is None:
        raise IntentforgeError("model still loading; retry shortly", status_code=503)
    data = await audio.read()
    services: VoiceServices = request.app.state.voice
    metrics = request.app.state.metrics
    transcriber, speaker, runner = await asyncio.to_thread(
        services.load, request.app.state.catalogue
    )
    max_audio_s = services.settings.voice.max_audio_s
    transcript, audio_s, timings = await asyncio.to_thread(
        hear, data, transcriber, max_audio_s=max_audio_s
    )
    metrics.observe_stage("stt", timings["stt"] / 1000)

    stage = time.perf_counter()
    parsed = await pool.parse(transcript, timezone=timezone)
    timings["parse"] = _ms(stage)

    stage = time.perf_counter()
    outcome = await asyncio.to_thread(
        lambda: runner.act(parsed.call, resolved=parsed.resolved, timezone=timezone)
    )
    timings["act"] = _ms(stage)
    metrics.observe_stage("action", timings["act"] / 1000)

    stage = time.perf_counter()
    reply_wav = await asyncio.to_thread(speaker.speak, outcome.reply)
    timings["tts"] = _ms(stage)
    metrics.observe_stage("tts", timings["tts"] / 1000)
    timings["total"] = _ms(started)

    turn = VoiceTurn(
        transcript=transcript,
        intent=parsed.call.to_dict(),
        resolved=dict(parsed.resolved),
        result=outcome.model_dump(mode="json"),
        reply=outcome.reply,
        reply_wav=reply_wav,
        audio_s=audio_s,
        timings_ms=timings,
    )
    return turn.to_json()
