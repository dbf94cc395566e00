"""The API under a real uvicorn server on 127.0.0.1, with a real GGUF model (untuned SmolLM2)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from intentforge.config import Settings, load_settings
from intentforge.runtime import Parser
from intentforge.secrets import Secrets
from intentforge.server import create_app, require_api_key_to_act
from servers.api import ApiServer
from servers.ports import reserve_port

API_KEY = "test-key-0123456789"


def make_settings(**server: Any) -> Settings:
    return load_settings(None, {"server": server})


@pytest.fixture(scope="module")
def api(smollm2_parser: Parser) -> Iterator[str]:
    app = create_app(make_settings(queue_size=4), Secrets(), parsers=[smollm2_parser])
    server = ApiServer(app).start()
    yield server.url
    server.stop()


def assert_error(response: httpx.Response, status: int, kind: str | None = None) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"]
    if kind:
        assert error["type"] == kind


def assert_valid_parse(parser: Parser, response: httpx.Response) -> None:
    """200 with a schema-valid intent, or 422 from the model: never anything else."""
    if response.status_code == 422:
        assert_error(response, 422, "model_output")
        return
    assert response.status_code == 200, response.text
    body = response.json()
    call = parser.catalogue.validate({"intent": body["intent"], "parameters": body["parameters"]})
    # The raw answer is a valid intent too; the call is it after the runtime's date rules.
    assert parser.catalogue.validate(body["raw"]).intent == call.intent
    assert body["timings_ms"]["total"] > 0
    assert body["tokens"]["generated"] > 0


def test_health_ready_and_intents(api: str, smollm2_parser: Parser) -> None:
    assert httpx.get(f"{api}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{api}/readyz").json()
    assert ready["status"] == "ready" and ready["workers"] == 1
    intents = httpx.get(f"{api}/v1/intents").json()
    assert intents["schema"] == smollm2_parser.catalogue.json_schema()
    names = {tool["function"]["name"] for tool in intents["tools"]}
    assert names == set(smollm2_parser.catalogue.names) - {"none"}


def test_parse_answers_a_valid_intent(api: str, smollm2_parser: Parser) -> None:
    statuses = []
    for text in ("play some jazz", "remind me to buy milk tomorrow at 5pm"):
        response = httpx.post(
            f"{api}/v1/parse", json={"text": text, "timezone": "Europe/Paris"}, timeout=60
        )
        assert_valid_parse(smollm2_parser, response)
        statuses.append(response.status_code)
        if response.status_code == 200:
            assert response.json()["timezone"] == "Europe/Paris"
    assert 200 in statuses


def test_a_missing_recipient_is_asked_for_and_the_answer_completes_the_call(
    asking_parser: Any,
) -> None:
    server = ApiServer(create_app(make_settings(), Secrets(), parsers=[asking_parser])).start()
    try:
        asked = httpx.post(f"{server.url}/v1/parse", json={"text": "send an email"}, timeout=60)
        assert asked.status_code == 200, asked.text
        first = asked.json()
        assert (first["intent"], first["parameters"]) == ("send_email", {})
        assert first["missing"] == ["to"]
        assert first["question"] == "Who should I send it to?"
        conversation = first["conversation_id"]
        assert isinstance(conversation, str) and len(conversation) >= 16

        answer = {"text": "to anna", "conversation_id": conversation}
        done = httpx.post(f"{server.url}/v1/parse", json=answer, timeout=60)
        assert done.status_code == 200, done.text
        second = done.json()
        assert (second["intent"], second["parameters"]) == ("send_email", {"to": "anna"})
        assert (second["missing"], second["question"], second["conversation_id"]) == (
            [],
            None,
            None,
        )

        # A question is answered once; an unknown id is the same clear error.
        for stale in (conversation, "made-up-id"):
            again = httpx.post(f"{server.url}/v1/parse", json={**answer, "conversation_id": stale})
            assert_error(again, 410, "conversation_expired")
            assert "say the whole request again" in again.json()["error"]["message"]
        # A complete request answers as before, with nothing missing.
        plain = httpx.post(f"{server.url}/v1/parse", json={"text": "play some jazz"}, timeout=60)
        if plain.status_code == 200:
            assert (plain.json()["missing"], plain.json()["conversation_id"]) == ([], None)
    finally:
        server.stop()


def test_a_conversation_expires_after_runtime_conversation_ttl_s(asking_parser: Any) -> None:
    settings = load_settings(None, {"runtime": {"conversation_ttl_s": 0.2}})
    server = ApiServer(create_app(settings, Secrets(), parsers=[asking_parser])).start()
    try:
        asked = httpx.post(f"{server.url}/v1/parse", json={"text": "send an email"}, timeout=60)
        time.sleep(0.3)
        late = {"text": "anna", "conversation_id": asked.json()["conversation_id"]}
        assert_error(httpx.post(f"{server.url}/v1/parse", json=late), 410, "conversation_expired")
    finally:
        server.stop()


JSON = {"content-type": "application/json"}
BAD_INPUTS = {
    "empty": ({"json": {"text": ""}}, 400, "invalid_request"),
    "whitespace": ({"json": {"text": "   \n"}}, 400, "invalid_request"),
    "over-text-limit": ({"json": {"text": "x" * 1001}}, 413, "payload_too_large"),
    "100KB": ({"json": {"text": "x" * 100_000}}, 413, "payload_too_large"),
    "unknown-field": ({"json": {"text": "hi", "extra": 1}}, 422, "invalid_request"),
    "missing-text": ({"json": {"txt": "hi"}}, 422, "invalid_request"),
    "not-a-string": ({"json": {"text": 42}}, 422, "invalid_request"),
    "not-an-object": ({"json": ["hi"]}, 422, "invalid_request"),
    "bad-timezone": ({"json": {"text": "hi", "timezone": "Mars/Base"}}, 400, "invalid_request"),
    "long-conversation-id": (
        {"json": {"text": "hi", "conversation_id": "x" * 101}},
        422,
        "invalid_request",
    ),
    "malformed-json": ({"content": b'{"text": "hi"', "headers": JSON}, 400, "invalid_json"),
    "invalid-utf8": ({"content": b'{"text": "\xff\xfe"}', "headers": JSON}, 400, "invalid_json"),
    "form-encoded": (
        {"content": b"text=hi", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        415,
        "unsupported_media_type",
    ),
    "text-plain": (
        {"content": b'{"text": "hi"}', "headers": {"content-type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
}


@pytest.mark.parametrize(("send", "status", "kind"), BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_is_a_clear_4xx(api: str, send: dict[str, Any], status: int, kind: str) -> None:
    assert_error(httpx.post(f"{api}/v1/parse", **send), status, kind)


def test_unknown_paths_and_methods_answer_json_errors(api: str) -> None:
    assert_error(httpx.get(f"{api}/v1/nothing"), 404, "not_found")
    assert_error(httpx.get(f"{api}/v1/parse"), 405, "method_not_allowed")


def test_server_keeps_serving_after_bad_requests(api: str, smollm2_parser: Parser) -> None:
    for _ in range(3):
        httpx.post(
            f"{api}/v1/parse", content=b"\x00\xff", headers={"content-type": "application/json"}
        )
        httpx.post(f"{api}/v1/parse", json={"text": "x" * 5000})
    response = httpx.post(f"{api}/v1/parse", json={"text": "play some jazz"}, timeout=60)
    assert_valid_parse(smollm2_parser, response)


def test_metrics_count_requests_stages_and_tokens(api: str) -> None:
    httpx.post(f"{api}/v1/parse", json={"text": "play some jazz"}, timeout=60)
    httpx.post(f"{api}/v1/parse", json={"text": ""})
    text = httpx.get(f"{api}/metrics").text
    assert 'intentforge_requests_total{endpoint="/v1/parse",status="200"}' in text
    assert 'intentforge_requests_total{endpoint="/v1/parse",status="400"}' in text
    assert 'intentforge_stage_duration_seconds_count{stage="prefill"}' in text
    assert 'intentforge_stage_duration_seconds_count{stage="queue"}' in text
    assert 'intentforge_tokens_total{kind="generated"}' in text
    assert "intentforge_queue_depth 0.0" in text


def test_web_page_has_the_form_and_the_voice_slot(api: str) -> None:
    page = httpx.get(f"{api}/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<div id="voice"></div>' in page.text
    assert '<script src="/static/voice.js" defer></script>' in page.text
    assert "/v1/parse" in httpx.get(f"{api}/static/app.js").text


def test_cors_is_off_by_default(api: str) -> None:
    preflight = httpx.options(
        f"{api}/v1/parse",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers


def test_cors_allows_configured_origins(smollm2_parser: Parser) -> None:
    settings = make_settings(cors_origins=["https://app.example"])
    server = ApiServer(create_app(settings, Secrets(), parsers=[smollm2_parser])).start()
    try:
        preflight = httpx.options(
            f"{server.url}/v1/parse",
            headers={"Origin": "https://app.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    finally:
        server.stop()


@pytest.fixture(scope="module")
def keyed_api(smollm2_parser: Parser) -> Iterator[str]:
    app = create_app(make_settings(), Secrets(api_key=API_KEY), parsers=[smollm2_parser])
    acting = APIRouter()

    @acting.post("/v1/test-act", dependencies=[Depends(require_api_key_to_act)])
    async def act() -> dict[str, bool]:
        return {"acted": True}

    app.include_router(acting)
    server = ApiServer(app).start()
    yield server.url
    server.stop()


def test_api_key_is_required_when_configured(keyed_api: str) -> None:
    url = f"{keyed_api}/v1/parse"
    assert_error(httpx.post(url, json={"text": "play some jazz"}), 401, "unauthorized")
    wrong = {"Authorization": "Bearer nope"}
    assert_error(httpx.post(url, json={"text": "play some jazz"}, headers=wrong), 401)
    assert_error(httpx.get(f"{keyed_api}/v1/intents"), 401)
    right = {"Authorization": f"Bearer {API_KEY}"}
    assert httpx.post(
        url, json={"text": "play some jazz"}, headers=right, timeout=60
    ).status_code in (200, 422)
    assert httpx.get(f"{keyed_api}/healthz").status_code == 200  # probes need no key
    assert httpx.post(f"{keyed_api}/v1/test-act", headers=right).json() == {"acted": True}
    assert_error(httpx.post(f"{keyed_api}/v1/test-act"), 401)


def test_acting_endpoints_are_refused_without_a_configured_key(smollm2_parser: Parser) -> None:
    app = create_app(make_settings(), Secrets(), parsers=[smollm2_parser])
    acting = APIRouter()

    @acting.post("/v1/test-act", dependencies=[Depends(require_api_key_to_act)])
    async def act() -> dict[str, bool]:
        return {"acted": True}

    app.include_router(acting)
    server = ApiServer(app).start()
    try:
        assert_error(httpx.post(f"{server.url}/v1/test-act"), 403, "forbidden")
    finally:
        server.stop()


def test_a_full_queue_answers_503_with_retry_after_and_recovers(smollm2_parser: Parser) -> None:
    settings = make_settings(workers=1, queue_size=1, request_timeout_s=60)
    server = ApiServer(create_app(settings, Secrets(), parsers=[smollm2_parser])).start()

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=120) as client:
            requests = [
                client.post(f"{server.url}/v1/parse", json={"text": f"play some jazz {i}"})
                for i in range(8)
            ]
            return await asyncio.gather(*requests)

    try:
        responses = asyncio.run(burst())
        statuses = sorted(r.status_code for r in responses)
        assert all(s in (200, 422, 503) for s in statuses), statuses
        busy = [r for r in responses if r.status_code == 503]
        assert len(busy) >= 5, statuses  # one runs, one waits, the rest are refused at once
        assert all(int(r.headers["Retry-After"]) >= 1 for r in busy)
        assert busy[0].json()["error"]["type"] == "server_busy"
        after = httpx.post(f"{server.url}/v1/parse", json={"text": "play some jazz"}, timeout=60)
        assert after.status_code in (200, 422)
        assert "intentforge_rejected_total" in httpx.get(f"{server.url}/metrics").text
    finally:
        server.stop()


def test_a_request_over_its_time_limit_is_a_504_and_frees_the_worker(
    smollm2_parser: Parser,
) -> None:
    settings = make_settings(request_timeout_s=0.01)
    server = ApiServer(create_app(settings, Secrets(), parsers=[smollm2_parser])).start()
    try:
        response = httpx.post(
            f"{server.url}/v1/parse", json={"text": "remind me to call mum"}, timeout=60
        )
        assert_error(response, 504, "request_timeout")
        deadline = time.monotonic() + 10
        while "intentforge_busy_workers 0.0" not in httpx.get(f"{server.url}/metrics").text:
            assert time.monotonic() < deadline, "the cancelled generation never released its worker"
            time.sleep(0.05)
    finally:
        server.stop()


MODEL_ROUTES = {
    "parse": ("/v1/parse", {"json": {"text": "play some jazz"}}),
    "act": ("/v1/act", {"json": {"text": "play some jazz"}}),
    "chat": ("/v1/chat/completions", {"json": {"messages": [{"role": "user", "content": "hi"}]}}),
    "voice": ("/v1/voice", {"files": {"audio": ("a.wav", b"RIFF", "audio/wav")}}),
}


@pytest.mark.parametrize(("path", "send"), MODEL_ROUTES.values(), ids=MODEL_ROUTES.keys())
def test_every_route_that_parses_answers_503_with_retry_after_until_the_model_loads(
    path: str, send: dict[str, Any]
) -> None:
    # Without its lifespan the app never loads a model: the state before start-up completes.
    app = create_app(make_settings(), Secrets(api_key=API_KEY))
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post(path, headers={"Authorization": f"Bearer {API_KEY}"}, **send)
    assert_error(response, 503, "model_loading")
    assert int(response.headers["Retry-After"]) >= 1
    assert_error(client.get("/readyz"), 503, "unavailable")


def test_each_resource_has_its_router() -> None:
    app = create_app(make_settings(), Secrets())
    paths = set(app.openapi()["paths"])
    assert paths == {
        "/healthz", "/readyz", "/metrics", "/v1/intents", "/v1/parse", "/v1/chat/completions",
        "/v1/models", "/v1/act", "/v1/voice",
    }  # fmt: skip


def _cli(*args: str, env: dict[str, str] | None = None) -> list[str]:
    return [sys.executable, "-c", "from intentforge.cli import main; main()", *args]


def test_serve_command_starts_answers_and_stops_on_sigint(
    smollm2_gguf: Path, tmp_path: Path
) -> None:
    port = reserve_port()
    env = {**os.environ, "INTENTFORGE_RUNTIME__N_THREADS": "1"}
    env.pop("INTENTFORGE_API_KEY", None)
    proc = subprocess.Popen(
        _cli("serve", "--model", str(smollm2_gguf), "--port", str(port)),
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.2)
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/parse", json={"text": "play some jazz"}, timeout=60
        )
        assert response.status_code in (200, 422)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0


@pytest.mark.parametrize("content", [None, b"GGUF but truncated"], ids=["missing", "corrupt"])
def test_serve_with_a_bad_model_exits_2_with_one_line(
    tmp_path: Path, content: bytes | None
) -> None:
    model = tmp_path / "model.gguf"
    if content is not None:
        model.write_bytes(content)
    done = subprocess.run(
        _cli("serve", "--model", str(model), "--port", str(reserve_port())),
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert str(model) in done.stderr
    assert "Traceback" not in done.stderr


def test_parse_answers_every_call_of_several_requests(multi_parser: Any) -> None:
    server = ApiServer(create_app(make_settings(), Secrets(), parsers=[multi_parser])).start()
    try:
        text = "add milk to the shopping list and what's the weather in paris"
        response = httpx.post(f"{server.url}/v1/parse", json={"text": text}, timeout=60)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["intent"], body["parameters"]) == (
            "add_task",
            {"content": "milk", "project": "shopping"},
        )
        assert [(c["intent"], c["parameters"]) for c in body["calls"]] == [
            ("add_task", {"content": "milk", "project": "shopping"}),
            ("get_weather", {"location": "paris"}),
        ]
        one = httpx.post(f"{server.url}/v1/parse", json={"text": "play some jazz"}, timeout=60)
        if one.status_code == 200:  # one request: `calls` holds its one call
            assert [c["intent"] for c in one.json()["calls"]] == [one.json()["intent"]]
    finally:
        server.stop()
