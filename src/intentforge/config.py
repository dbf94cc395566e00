"""All settings in one place: defaults < config file (YAML) < INTENTFORGE_* env vars < CLI options.

Secrets never come from the config file: they are read from the environment into `Secrets`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from intentforge.errors import IntentforgeError
from intentforge.yaml_file import read_settings_file

DEFAULT_CONFIG_FILE = Path("intentforge.yaml")
# The runtime's steps after validation, in the order they run (runtime/postprocess.py).
PostprocessStep = Literal[
    "name_lists", "fill_spoken", "detach_dates", "attach_trailing_dates", "resolve_dates"
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CatalogueConfig(_Section):
    files: list[Path] = Field(default_factory=list, description="YAML files of user intents.")
    modules: list[str] = Field(
        default_factory=list, description="Python modules exposing INTENTS (or 'module:NAME')."
    )
    builtin: bool = Field(True, description="Include the built-in intents (none is always kept).")


class LLMConfig(_Section):
    base_url: str = Field("https://openrouter.ai/api/v1", description="OpenAI-compatible endpoint.")
    model: str = "google/gemini-2.5-flash"
    api_key_env: str = Field("OPENROUTER_API_KEY", description="Env var that holds the API key.")
    concurrency: int = Field(4, ge=1, le=64, description="Requests in flight at once.")
    rows_per_request: int = Field(10, ge=1, le=50)
    max_retries: int = Field(6, ge=0, le=20, description="Retries per request (429, 5xx, drops).")
    backoff_s: float = Field(
        1.0, ge=0, description="First retry delay without a Retry-After header; doubles per retry."
    )
    timeout_s: float = Field(60.0, gt=0)
    temperature: float = Field(1.0, ge=0, le=2)
    extra_body: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra request fields the endpoint understands (e.g. OpenRouter's reasoning).",
    )


class DataConfig(_Section):
    generator: Literal["templates", "llm"] = "templates"
    rows: int = Field(2200, ge=1, description="Rows to generate (before dedup and split).")
    seed: int = 13
    none_fraction: float = Field(
        0.3,
        ge=0,
        le=0.6,
        description="Share of out-of-scope requests (a row saying two counts both): people ask "
        "an assistant for everything, and a false action costs more than a refusal, so this is "
        "the largest class.",
    )
    multi_fraction: float = Field(
        0.18,
        ge=0,
        le=0.5,
        description="Share of rows that say two or three requests in one sentence ('add milk and "
        "what's the weather'), joined from generated rows (templates generator).",
    )
    out_dir: Path = Path("build/data")
    train_rows: int = Field(1400, ge=1)
    test_rows: int = Field(250, ge=1, description="Held out from training; calibrates refuse_at.")
    extra_train: list[Path] = Field(
        default_factory=list,
        description="JSONL files whose rows the build adds to the training split, e.g. "
        "speechified rows from `intentforge data speechify` (dev-set texts are still dropped).",
    )


class TrainConfig(_Section):
    name: str = Field("intentforge", description="Run name: build/runs/<name>, models/<name>.*")
    base: str = Field("smollm2-135m", description="Preset name, hub id or local directory.")
    lora: bool | None = Field(
        None,
        description="LoRA adapters (true) or every weight (false); unset: every weight for the "
        "smollm2-135m preset, LoRA (QLoRA on CUDA) for anything else.",
    )
    rank: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] = Field(
        default_factory=lambda: ["all-linear"],
        description="Modules to adapt, or ['all-linear'] (every linear layer but the output head).",
    )
    learning_rate: float | None = Field(
        None, gt=0, description="Peak learning rate; unset: 1e-4 training every weight, 2e-3 LoRA."
    )
    warmup_ratio: float = Field(0.05, ge=0, lt=1, description="Share of steps with rising lr.")
    epochs: float = Field(1.0, gt=0, description="Passes over the training rows (may be 1.5).")
    batch_size: int = Field(4, ge=1, description="4 beat 8 on 2 cores: more updates, same time.")
    max_length: int = Field(192, ge=16, description="Longer rows are dropped, never truncated.")
    seed: int = 13
    max_steps: int | None = Field(None, ge=1, description="Stop early after this many steps.")
    save_every_steps: int = Field(
        100,
        ge=1,
        description="Checkpoint interval (and each epoch); a full-model checkpoint costs ~5 s.",
    )
    freeze_embeddings: bool = Field(
        True,
        description="Training every weight: keep the token embeddings (and a tied output head) "
        "as the base has them; 20 % of SmolLM2's weights, ~8 % faster steps.",
    )
    freeze_layers: int = Field(
        0,
        ge=0,
        description="Training every weight: keep the first N transformer blocks as the base has "
        "them (backpropagation stops above them: 10 of SmolLM2's 30 make steps ~20 % faster, "
        "but cost slot accuracy).",
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(
        None, ge=1, description="CPU threads (None: all cores; 1 wins on a busy shared machine)."
    )
    qlora: bool = Field(True, description="On CUDA, load a hub base in 4-bit NF4 (QLoRA).")
    runs_dir: Path = Path("build/runs")
    cache_dir: Path = Field(
        Path("~/.cache/intentforge"), description="Where chunked base models are assembled."
    )


class ExportConfig(_Section):
    quantizations: list[str] = Field(
        # q8_0 is more accurate than q4_k_m at the same latency, for a file 40 MB larger.
        default_factory=lambda: ["q8_0"],
        description="Any of q4_k_m, q8_0, f16.",
    )
    out_dir: Path = Path("build/models")
    cache_dir: Path = Field(
        Path("~/.cache/intentforge"), description="Where the llama.cpp converter is cached."
    )
    threads: int = Field(2, ge=1, description="Threads for quantization.")


class RuntimeConfig(_Section):
    model_path: Path | None = Field(None, description="GGUF file to serve (default: built model).")
    n_threads: int = Field(2, ge=1)
    n_ctx: int = Field(512, ge=64)
    max_tokens: int = Field(
        160, ge=8, description="Bound on generated tokens per request (all its calls)."
    )
    # A model trained without several-call rows never ends an answer by choice where another
    # call may follow ("}" then a new line or the end): give it 1.
    max_calls: int = Field(
        3,
        ge=1,
        le=3,
        description="Most calls one answer holds ('add milk and what's the weather' is 2); "
        "1: one request per sentence, as before.",
    )
    timezone: str = Field("UTC", description="IANA time zone for dates when a request names none.")
    n_batch: int = Field(64, ge=8, description="Tokens evaluated per llama.cpp batch.")
    flash_attn: bool = Field(True, description="llama.cpp flash attention (CPU too).")
    # OpenMP's default lets llama.cpp's threads spin briefly between steps, the fastest on cores
    # they have to themselves. Spinning only hurts when the cores are shared (several workers, a
    # busy host), where sleeping waits or 1 thread win.
    omp_passive: bool = Field(
        False,
        description="Sleep instead of spin between llama.cpp steps (OMP_WAIT_POLICY=PASSIVE): "
        "for hosts whose cores are shared; 3.4x slower on an idle machine.",
    )
    # Stops a model writing "Saturday at 10" for "Friday at 10" or a whole sentence as a
    # recipient. Training data holds the same invariant, so the grammar only ever removes answers
    # the model was never taught.
    span_slots: bool = Field(
        True,
        description="Hold every text slot to a span of the request (copied words, any case): "
        "the model may cut a value short, never invent one.",
    )
    # Both keep the model's greedy answer; they only cut the sequential decode steps, which
    # bound latency on a CPU (one step reads the whole model from memory). Answers differ only
    # where evaluating several tokens in one batch changes the logits' last digits.
    jump_forward: bool = Field(
        True,
        description='Append text the grammar fixes (e.g. \'","parameters":{"\') in one '
        "batch instead of sampling it token by token.",
    )
    # A batch is not free on a CPU (2 tokens cost ~2x one), so long drafts lose; 3 was best on
    # held-out generated rows (docs/results.md, 2026-12-08).
    draft_tokens: int = Field(
        3,
        ge=0,
        le=32,
        description="Inside a text value copied from the request, draft up to this many of the "
        "request's next tokens and verify them in one batch (prompt lookup; a refusal's copy "
        "of the request is drafted whole); 0: no drafts at all.",
    )
    # A false action (an e-mail sent, a task created) costs more than "I can't do that". The
    # build calibrates the threshold per model on its held-out generated rows (never on a dev
    # set: evaluate/calibrate.py) and writes it into the model's manifest; setting it here
    # overrides that.
    refuse_at: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Answer out-of-scope ('none') when the model gives it at least this "
        "probability where it chooses the intent, even if an action is likelier; 1: plain "
        "greedy; unset: the model manifest's calibrated value, else 0.3.",
    )
    # A question waits for its answer this long: long enough to say a name, short enough that
    # an answer never completes a request the user has forgotten.
    conversation_ttl_s: float = Field(
        120.0,
        gt=0,
        description="How long a call missing a slot waits for the follow-up with its "
        "conversation_id; after that the id answers 410 and the request is said again.",
    )
    max_conversations: int = Field(1000, ge=1, description="Calls waiting for an answer at once.")
    # Each step repairs one way a model's answer falls short (runtime/postprocess.py); turning
    # one off shows what the model says without it (for evaluation), or keeps a user's text slot
    # as the model wrote it. Without resolve_dates, answers carry no `resolved` dates.
    postprocess: list[PostprocessStep] = Field(
        default_factory=lambda: list(get_args(PostprocessStep)),
        description="Steps applied after validation, always in this order: name_lists, "
        "fill_spoken, detach_dates, attach_trailing_dates, resolve_dates (runtime/postprocess.py "
        "says what each does).",
    )


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    workers: int = Field(1, ge=1, description="Model instances (each with its own thread).")
    queue_size: int = Field(8, ge=0, description="Requests waiting beyond the busy workers.")
    request_timeout_s: float = Field(20.0, gt=0)
    max_text_chars: int = Field(1000, ge=1)
    max_body_bytes: int = Field(64_000, ge=1024)
    cors_origins: list[str] = Field(default_factory=list, description="Empty: CORS off.")


class ActionsConfig(_Section):
    dry_run: bool | None = Field(default=None, description="None: dry-run until credentials exist.")
    todoist_base_url: str = "https://api.todoist.com/api/v1"
    todoist_create_projects: bool = False
    confirm_tasks: bool = Field(default=False, description="Ask before adding a Todoist task.")
    geocoding_url: str = "https://geocoding-api.open-meteo.com/v1/search"
    forecast_url: str = "https://api.open-meteo.com/v1/forecast"
    home_location: str | None = Field(default=None, description="Place used when none is said.")
    temperature_unit: Literal["celsius", "fahrenheit"] = "celsius"
    smtp_host: str = "smtp.gmail.com"
    smtp_port: int = 587
    smtp_starttls: bool = True
    smtp_ca_file: Path | None = Field(
        default=None, description="Extra CA bundle to trust for STARTTLS."
    )
    smtp_user: str | None = None
    email_from: str | None = Field(default=None, description="From address (default: smtp_user).")
    contacts_file: Path = Path("contacts.yaml")
    confirm_email: bool = True
    confirmation_ttl_s: float = Field(
        default=600.0, gt=0, description="How long a confirmation is valid."
    )
    timeout_s: float = Field(default=10.0, gt=0)
    max_retries: int = Field(default=2, ge=0)
    retry_backoff_s: float = Field(
        default=0.5, ge=0, description="First retry delay; doubles each retry."
    )
    state_dir: Path = Path("build/state")


class VoiceConfig(_Section):
    stt_model: str = Field(
        "whisper-base", description="'whisper-base' (offline) or any faster-whisper name/dir."
    )
    stt_language: str | None = Field(
        "en", description="Spoken language; None: detect per utterance."
    )
    stt_beam_size: int = Field(
        5, ge=1, le=10, description="Beam width: 5 mishears fewer words than 1, ~10 % slower."
    )
    stt_compute_type: str = Field(
        "int8", description="CTranslate2 compute type (int8, float32...)."
    )
    stt_threads: int = Field(2, ge=1)
    stt_hints: bool = Field(False, description="Catalogue words as hotwords (docs/voice.md).")
    model_cache_dir: Path = Field(
        Path("~/.cache/intentforge"), description="Where the offline Whisper model is assembled."
    )
    tts: Literal["espeak-ng", "piper"] = "espeak-ng"
    tts_voice: str = Field("en", description="espeak-ng voice (espeak-ng --voices lists them).")
    tts_rate_wpm: int = Field(160, ge=80, le=450, description="espeak-ng speaking rate.")
    piper_model: Path | None = Field(None, description="Piper voice (.onnx with its .onnx.json).")
    max_audio_s: float = Field(30.0, gt=0)
    max_upload_bytes: int = Field(8_000_000, ge=1024, description="Largest /v1/voice upload.")


class WyomingConfig(_Section):
    uri: str = Field(
        "tcp://127.0.0.1:10700",
        description="Where the Wyoming service listens; tcp://0.0.0.0:10700 to reach other hosts.",
    )
    transcript_program: Literal["handle", "intent"] = Field(
        "handle",
        description="What answers a Transcript when the client selects no program (Home "
        "Assistant never does): handle acts and replies, intent only names the intent.",
    )


class BuildConfig(_Section):
    name: str | None = Field(
        None, description="Model name (default: intentforge-<base>); files are <name>.<quant>.gguf."
    )
    eval_data: list[Path] = Field(
        default_factory=lambda: [Path("data/dev"), Path("data/dev2"), Path("data/dev-multi")],
        description="JSONL files or folders the built model is evaluated on (missing: test split).",
    )
    reports_dir: Path = Path("build/reports")
    state_dir: Path = Field(Path("build/stages"), description="Stage records (content hashes).")


class Settings(BaseSettings):
    """Every setting of intentforge; see `intentforge config show` for the resolved values."""

    model_config = SettingsConfigDict(
        env_prefix="INTENTFORGE_", env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    catalogue: CatalogueConfig = Field(default_factory=CatalogueConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    server: ServerConfig = Field(default_factory=ServerConfig)
    actions: ActionsConfig = Field(default_factory=ActionsConfig)
    voice: VoiceConfig = Field(default_factory=VoiceConfig)
    wyoming: WyomingConfig = Field(default_factory=WyomingConfig)
    build: BuildConfig = Field(default_factory=BuildConfig)


class _MappingSource(PydanticBaseSettingsSource):
    """Settings from an already-read config file."""

    def __init__(self, settings_cls: type[BaseSettings], data: Mapping[str, Any]) -> None:
        super().__init__(settings_cls)
        self._data = dict(data)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return self._data


def load_settings(
    config_file: Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Resolve settings. `config_file` None: ./intentforge.yaml if present. `overrides` (the CLI):
    nested like {"train": {"rank": 8}}; None values are ignored."""
    if config_file is None and DEFAULT_CONFIG_FILE.is_file():
        config_file = DEFAULT_CONFIG_FILE
    file_data = read_settings_file(config_file) if config_file else {}
    init = _prune_none(overrides or {})

    class _Resolved(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, _MappingSource(settings_cls, file_data))

    try:
        resolved = _Resolved(**init)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        source = f" in {config_file}" if config_file else ""
        raise IntentforgeError(f"invalid setting {where}{source}: {first['msg']}") from None
    return Settings.model_validate(resolved.model_dump())


def _prune_none(data: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, Mapping):
            value = _prune_none(value)
            if value:
                out[key] = value
        elif value is not None:
            out[key] = value
    return out
