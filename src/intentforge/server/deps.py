"""What a route needs, as typed dependencies: a route states its needs in its signature.

`create_app` puts each shared object in `app.state` once; these read it back, typed. The guard
"the model is loaded" lives here only (`PoolDep`), so every route that parses answers the same
503 + Retry-After while the model loads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request

from intentforge.actions import ActionRunner
from intentforge.catalogue import Catalogue
from intentforge.config import Settings, VoiceConfig
from intentforge.errors import IntentforgeError
from intentforge.secrets import Secrets
from intentforge.server.metrics import Metrics
from intentforge.server.pool import ModelLoading, ParserPool
from intentforge.voice.stt import Transcriber, transcriber_from
from intentforge.voice.tts import Speaker, speaker_from


class SpeechModels:
    """Speech-to-text and text-to-speech, loaded on first use: a server that never hears audio
    never pays for them, and a missing espeak-ng breaks only the voice endpoint."""

    def __init__(self, config: VoiceConfig, hotwords: str | None = None) -> None:
        self.config = config
        self.hotwords = hotwords
        self._lock = threading.Lock()
        self._loaded: tuple[Transcriber, Speaker] | None = None

    def load(self) -> tuple[Transcriber, Speaker]:
        """(transcriber, speaker); thread-safe, loads once. Blocking: call it off the event loop."""
        with self._lock:
            if self._loaded is None:
                speaker = speaker_from(self.config)  # first: it fails fast without espeak-ng
                self._loaded = (transcriber_from(self.config, self.hotwords), speaker)
            return self._loaded


def _from_state(name: str) -> Callable[[Request], Any]:
    """A dependency that reads `app.state.<name>`; the Annotated alias below gives its type."""

    def read(request: Request) -> Any:
        return getattr(request.app.state, name)

    read.__name__ = f"get_{name}"
    return read


SettingsDep = Annotated[Settings, Depends(_from_state("settings"))]
SecretsDep = Annotated[Secrets, Depends(_from_state("secrets"))]
CatalogueDep = Annotated[Catalogue, Depends(_from_state("catalogue"))]
MetricsDep = Annotated[Metrics, Depends(_from_state("metrics"))]
ActionsDep = Annotated[ActionRunner, Depends(_from_state("actions"))]
SpeechDep = Annotated[SpeechModels, Depends(_from_state("speech"))]
ModelNameDep = Annotated[str, Depends(_from_state("model_name"))]
# None until the model is loaded. A route that always parses takes PoolDep instead; one that
# parses only some requests (/v1/act with text) passes this to require_model when it must.
MaybePoolDep = Annotated[ParserPool | None, Depends(_from_state("pool"))]


def require_model(pool: MaybePoolDep) -> ParserPool:
    """The worker pool; ModelLoading (503 + Retry-After) until the model is loaded."""
    if pool is None:
        raise ModelLoading("model still loading; retry shortly", retry_after_s=5)
    return pool


PoolDep = Annotated[ParserPool, Depends(require_model)]


def check_text_length(text: str, settings: Settings) -> None:
    """413 when a request's text is longer than server.max_text_chars."""
    limit = settings.server.max_text_chars
    if len(text) > limit:
        raise IntentforgeError(
            f"text over {limit} characters (server.max_text_chars)", status_code=413
        )
