"""`POST /v1/voice`: recorded speech in, transcript, intent, action result and spoken reply out.

A thin shell over `intentforge.voice.loop.VoicePipeline`, the same turn `intentforge voice` runs.
Parsing goes through the app's worker pool like /v1/parse, so the queue bound covers voice too.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from pydantic import BaseModel, Field

from intentforge.runtime import ParseResult
from intentforge.server.deps import ActionsDep, MetricsDep, PoolDep, SettingsDep, SpeechDep
from intentforge.server.errors import CONVERSATION_ERRORS
from intentforge.server.schemas import conversation_id_out, missing_out, question_out
from intentforge.server.security import require_api_key_to_act
from intentforge.voice.loop import Acted, VoicePipeline

router = APIRouter(tags=["voice"])

# The pipeline's stages under the names the metrics give them.
_METRIC_STAGES = {"stt": "stt", "act": "action", "tts": "tts"}


class ReplyAudio(BaseModel):
    format: str = Field("wav", description="Always 16-bit PCM WAV.")
    base64: str = Field(description="The WAV file, base64-encoded.")


class VoiceResponse(BaseModel):
    transcript: str = Field(description="What speech-to-text heard.")
    intent: dict[str, Any] = Field(description="{intent, parameters}: the parsed intent call.")
    missing: list[str] = missing_out()
    question: str | None = question_out()
    conversation_id: str | None = conversation_id_out()
    resolved: dict[str, Any] = Field(description="Date slots resolved: {slot: {text, iso}}.")
    result: dict[str, Any] = Field(description="The action's result (status, reply, data...).")
    reply: str = Field(description="What to say back: one sentence per call, in order.")
    calls: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Every call in the order said ({intent, parameters, resolved, result}); "
        "`intent` and `result` are the first's.",
    )
    reply_audio: ReplyAudio = Field(description="The reply, spoken.")
    audio_s: float = Field(description="Length of the uploaded audio in seconds.")
    timings_ms: dict[str, float] = Field(
        description="Per-stage latency: decode, stt, parse, act, tts, total."
    )


@router.post(
    "/v1/voice",
    summary="Speech to intent to action to spoken reply",
    response_model=VoiceResponse,
    responses=CONVERSATION_ERRORS,
    dependencies=[Depends(require_api_key_to_act)],
)
async def voice(
    pool: PoolDep,
    runner: ActionsDep,
    speech: SpeechDep,
    settings: SettingsDep,
    metrics: MetricsDep,
    audio: UploadFile = File(
        description="One spoken request: WAV, WebM/Opus (browsers' MediaRecorder), OGG, MP3..."
    ),
    timezone: str | None = Form(
        None, description="IANA time zone of the speaker, for dates (default: runtime.timezone)."
    ),
    conversation_id: str | None = Form(
        None,
        max_length=100,
        description="The conversation_id of the turn before, which asked a question: this "
        "recording is the answer.",
    ),
) -> dict[str, Any]:
    """Transcribe the upload, parse it, act on it and speak the reply (base64 WAV).

    A call missing a slot is not acted on: the reply speaks its question, and the next
    recording, sent with the returned `conversation_id`, answers it. 400 for unusable audio
    (empty, not audio, too long); 422 when no speech is heard or the model cannot produce a
    valid intent; 410 for an expired conversation; 503 with Retry-After when the workers are
    busy.
    """
    data = await audio.read()
    transcriber, speaker = await asyncio.to_thread(speech.load)
    loop = asyncio.get_running_loop()

    # The turn runs in a thread; its parse step hands the text back to the event loop's pool.
    def parse(text: str, answering: str | None) -> ParseResult:
        parsing = pool.parse(text, timezone=timezone, conversation_id=answering)
        return asyncio.run_coroutine_threadsafe(parsing, loop).result()

    def act(call: Any, resolved: Any) -> Acted:
        return runner.act(call, resolved=resolved, timezone=timezone)

    def observe(stage: str, ms: float) -> None:
        if stage in _METRIC_STAGES:
            metrics.observe_stage(_METRIC_STAGES[stage], ms / 1000)

    pipeline = VoicePipeline(
        transcriber,
        parse,
        act,
        speaker,
        max_audio_s=settings.voice.max_audio_s,
        on_stage=observe,
    )
    turn = await asyncio.to_thread(pipeline.run, data, conversation_id)
    return turn.to_json()
