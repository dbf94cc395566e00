"""The Wyoming service: Home Assistant's voice assistant talks to intentforge over Wyoming.

Describe -> Info with two programs. The handle program acts: a Transcript is parsed and carried
out, and the answer is Handled with the reply to speak, or NotHandled with the reason (out of
scope, a failed action, a request refused). The intent program only recognises: Intent with the
slots as entities, or NotRecognized when the request is out of scope; Home Assistant then runs its
own handler for that intent (intent_script). A Recognize event goes to the intent program; a
Transcript to the program the connection selected (SelectProgram), else to
wyoming.transcript_program, since Home Assistant sends Transcripts and selects nothing.

The model is loaded before the port opens and parses run on the worker pool's threads, so a
Describe is answered at once even while a request is being parsed (Home Assistant allows 1 s).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from wyoming.asr import Transcript
from wyoming.error import Error
from wyoming.event import Event, Eventable
from wyoming.handle import Handled, NotHandled
from wyoming.info import (
    Attribution,
    Describe,
    HandleModel,
    HandleProgram,
    Info,
    IntentModel,
    IntentProgram,
    SelectProgram,
)
from wyoming.intent import Entity, Intent, IntentsStart, IntentsStop, NotRecognized, Recognize
from wyoming.server import AsyncEventHandler, AsyncServer

from intentforge import __version__
from intentforge.actions import NONE_REPLY, ActionResult, ActionRunner, ActionStatus
from intentforge.catalogue import OUT_OF_SCOPE
from intentforge.config import Settings
from intentforge.errors import IntentforgeError
from intentforge.runtime import CallResult, Parser, ParseResult
from intentforge.runtime.conversation import Conversations
from intentforge.secrets import Secrets
from intentforge.server.deps import check_text_length
from intentforge.server.metrics import Metrics
from intentforge.server.pool import ParserPool
from intentforge.voice.loop import Answered, Stages, answer

log = logging.getLogger(__name__)

HANDLE_PROGRAM = "intentforge"
INTENT_PROGRAM = "intentforge-intents"
LANGUAGES = ["en"]
_ATTRIBUTION = Attribution(name="intentforge", url="")


def describe(model_path: Path, intents: Sequence[str]) -> Info:
    """The Info a Describe gets: both programs, each with the model as its one model."""
    listed = ", ".join(name for name in intents if name != OUT_OF_SCOPE)

    def artifact(description: str) -> dict[str, Any]:
        return {
            "attribution": _ATTRIBUTION,
            "installed": True,
            "description": description,
            "version": __version__,
        }

    handle_model = HandleModel(name=model_path.name, languages=LANGUAGES, **artifact(listed))
    intent_model = IntentModel(name=model_path.name, languages=LANGUAGES, **artifact(listed))
    return Info(
        handle=[
            HandleProgram(
                name=HANDLE_PROGRAM,
                models=[handle_model],
                **artifact(f"Carries out a request ({listed}) and says what it did."),
            )
        ],
        intent=[
            IntentProgram(
                name=INTENT_PROGRAM,
                models=[intent_model],
                **artifact(f"Names the intent of a request ({listed}) and its slots."),
            )
        ],
    )


def server_for(uri: str) -> AsyncServer:
    """The server for tcp://HOST:PORT, unix://PATH or stdio://; a clear error for anything else."""
    try:
        return AsyncServer.from_uri(uri)
    except ValueError as exc:
        raise IntentforgeError(
            f"cannot listen on {uri!r}: {exc} (e.g. tcp://0.0.0.0:10700)"
        ) from None


class WyomingService:
    """What every connection shares: the worker pool, the action runner and the Info.

    The parsers belong to the caller (it closes them); `close` stops the pool and the runner.
    The server section's workers, queue_size, request_timeout_s and max_text_chars apply here too.
    """

    def __init__(self, settings: Settings, secrets: Secrets, parsers: Sequence[Parser]) -> None:
        if not parsers:
            raise ValueError("the Wyoming service needs at least one parser")
        self.settings = settings
        catalogue = parsers[0].catalogue
        self.pool = ParserPool(
            parsers,
            queue_size=settings.server.queue_size,
            timeout_s=settings.server.request_timeout_s,
            metrics=Metrics(),
            conversations=Conversations.for_runtime(settings.runtime),
        )
        self.runner = ActionRunner(settings, secrets, catalogue=catalogue)
        self.info = describe(parsers[0].model_path, catalogue.names)
        # Home Assistant's conversation id -> the runtime's, for a turn that asked a question:
        # the next transcript of that conversation is the answer. Oldest dropped first.
        self._asking: dict[str, str] = {}

    def close(self) -> None:
        self.pool.close()
        self.runner.close()

    async def handle(
        self, text: str, context: Mapping[str, Any] | None = None, language: str | None = None
    ) -> Handled | NotHandled:
        """The handle program: parse `text` and act on it. Handled with the reply (done, dry
        run, or a question back); NotHandled with the reason (out of scope, an intent without an
        action, a failed action, a request refused before parsing)."""
        reply_context = _reply_context(context)
        try:
            _check_language(language)
            check_text_length(text, self.settings)
            ours = (
                self._asking.pop(str(reply_context["conversation_id"]), None)
                if reply_context
                else None
            )
            answered = await self._answer(text, ours)
        except IntentforgeError as exc:
            return NotHandled(text=str(exc), context=reply_context)
        if reply_context and answered.parsed.conversation_id:
            self._asking[str(reply_context["conversation_id"])] = answered.parsed.conversation_id
            while len(self._asking) > self.settings.runtime.max_conversations:
                del self._asking[next(iter(self._asking))]
        # Several calls: handled when any of them was (the reply says how each went).
        if not any(
            o.action is not None and o.status != ActionStatus.FAILED for o in answered.outcomes
        ):
            return NotHandled(text=answered.reply, context=reply_context)
        return Handled(text=answered.reply, context=reply_context)

    async def recognize(
        self, text: str, context: Mapping[str, Any] | None = None, language: str | None = None
    ) -> list[Eventable]:
        """The intent program: Intent with the slots as entities, or NotRecognized (out of
        scope, or a request refused). Several requests in one sentence are IntentsStart, an
        Intent per call in scope, IntentsStop; an out-of-scope part is left out."""
        reply_context = _reply_context(context)
        try:
            _check_language(language)
            check_text_length(text, self.settings)
            parsed = await self.pool.parse(text)
        except IntentforgeError as exc:
            return [NotRecognized(text=str(exc), context=reply_context)]
        found: list[Eventable] = [
            Intent(name=c.call.intent, entities=entities(c), context=reply_context)
            for c in parsed.calls
            if c.call.intent != OUT_OF_SCOPE
        ]
        if not found:
            return [NotRecognized(text=NONE_REPLY, context=reply_context)]
        if len(found) == 1:
            return found
        return [IntentsStart(context=reply_context), *found, IntentsStop(context=reply_context)]

    async def _answer(
        self, text: str, conversation_id: str | None = None
    ) -> Answered[ParseResult, ActionResult]:
        """The voice turn's `answer` on a worker thread; its parse hands the text back to this
        event loop's pool (as /v1/voice does), so the queue bound covers Wyoming too."""
        loop = asyncio.get_running_loop()

        def parse(said: str) -> ParseResult:
            parsing = self.pool.parse(said, conversation_id=conversation_id)
            return asyncio.run_coroutine_threadsafe(parsing, loop).result()

        def act(call: Any, resolved: Mapping[str, Any]) -> ActionResult:
            return self.runner.act(call, resolved=resolved)

        stages = Stages()
        answered = await asyncio.to_thread(answer, text, parse, act, stages)
        timings = " ".join(f"{k}={v:.0f}ms" for k, v in stages.timings_ms.items())
        log.info(
            "handled %s: %s (%s)", answered.parsed.call.intent, answered.outcome.status, timings
        )
        return answered

    async def run(self, uri: str) -> None:
        """Serve connections on `uri` until cancelled or sent SIGTERM."""
        server = server_for(uri)
        try:
            await server.run(partial(WyomingHandler, self))
        except OSError as exc:
            raise IntentforgeError(f"cannot listen on {uri}: {exc.strerror or exc}") from None


def entities(parsed: CallResult) -> list[Entity]:
    """The slots as said, then each resolved date as `<slot>_iso` (ISO 8601)."""
    found = [Entity(name=name, value=value) for name, value in parsed.call.parameters.items()]
    for name, span in parsed.resolved.items():
        if isinstance(span, Mapping) and span.get("iso"):
            found.append(Entity(name=f"{name}_iso", value=span["iso"]))
    return found


def _reply_context(context: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What an answer carries back: the conversation id Home Assistant sent, if any."""
    if context and context.get("conversation_id"):
        return {"conversation_id": context["conversation_id"]}
    return None


def _check_language(language: str | None) -> None:
    if language and not language.lower().startswith("en"):
        raise IntentforgeError(f"I only understand English requests, not {language!r}.")


class WyomingHandler(AsyncEventHandler):
    """One client connection. Requests are answered in the order they came, each in a task of
    its own, so a Describe on the same connection is answered while a request is parsed."""

    def __init__(
        self, service: WyomingService, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        super().__init__(reader, writer)
        self.service = service
        self.transcript_program = service.settings.wyoming.transcript_program
        self._in_order = asyncio.Lock()
        self._requests: set[asyncio.Task[None]] = set()

    async def handle_event(self, event: Event) -> bool:
        if Describe.is_type(event.type):
            await self._send([self.service.info])
        elif SelectProgram.is_type(event.type):
            self._select(SelectProgram.from_event(event).name)
        elif Transcript.is_type(event.type):
            heard = Transcript.from_event(event)
            if self.transcript_program == "intent":
                self._start(self.service.recognize(heard.text, heard.context, heard.language))
            else:
                self._start(self.service.handle(heard.text, heard.context, heard.language))
        elif Recognize.is_type(event.type):
            request = Recognize.from_event(event)
            self._start(self.service.recognize(request.text, request.context))
        else:
            log.debug("ignored a %s event", event.type)
        return True

    def _select(self, name: str) -> None:
        if name == HANDLE_PROGRAM:
            self.transcript_program = "handle"
        elif name == INTENT_PROGRAM:
            self.transcript_program = "intent"
        else:
            log.warning("a client selected the unknown program %r: ignored", name)

    def _start(self, answering: Awaitable[Eventable | list[Eventable]]) -> None:
        async def reply() -> None:
            async with self._in_order:
                try:
                    answered = await answering
                except Exception:  # a bug: say so to the client rather than leave it waiting
                    log.exception("a request failed")
                    answered = Error(text="intentforge failed on this request; see its log")
                await self._send(answered if isinstance(answered, list) else [answered])

        task = asyncio.create_task(reply())
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _send(self, events: Sequence[Eventable]) -> None:
        try:
            for event in events:
                await self.write_event(event.event())
        except ConnectionError:
            log.info("the client left before its answer was sent")
