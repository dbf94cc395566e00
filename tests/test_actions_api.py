"""`POST /v1/act` through the FastAPI app, against local Todoist, Open-Meteo and SMTP servers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from intentforge.config import load_settings
from intentforge.secrets import Secrets
from intentforge.server.app import create_app

API_KEY = "act-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def make_client(
    tmp_path: Path, actions: dict[str, Any], parsers: list[Any] | None = None, **secrets: Any
) -> TestClient:
    settings = load_settings(
        None,
        {
            "actions": {"state_dir": str(tmp_path / "state"), "retry_backoff_s": 0, **actions},
            # A shared 2-core machine can be slow: the test is about wiring, not latency.
            "server": {"request_timeout_s": 300},
        },
    )
    values = {"api_key": SecretStr(API_KEY), **{k: SecretStr(v) for k, v in secrets.items()}}
    return TestClient(create_app(settings, Secrets(**values), parsers=parsers))


def test_acting_needs_an_api_key(tmp_path):
    settings = load_settings(None, {"actions": {"state_dir": str(tmp_path / "state")}})
    client = TestClient(create_app(settings, Secrets()))
    body = {"intent": {"intent": "none", "parameters": {}}}
    assert client.post("/v1/act", json=body).status_code == 403
    keyed = make_client(tmp_path, {})
    wrong = keyed.post("/v1/act", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert keyed.post("/v1/act", json=body, headers=AUTH).json()["result"]["reply"] == (
        "Sorry, I can't help with that yet."
    )


def test_weather_intent(tmp_path, open_meteo_server):
    client = make_client(
        tmp_path,
        {
            "geocoding_url": open_meteo_server.geocoding_url,
            "forecast_url": open_meteo_server.forecast_url,
        },
    )
    response = client.post(
        "/v1/act",
        json={"intent": {"intent": "get_weather", "parameters": {"location": "Berlin"}}},
        headers=AUTH,
    )
    assert response.status_code == 200
    body = response.json()
    assert body["intent"] == "get_weather"
    assert body["parameters"] == {"location": "Berlin"}
    assert body["result"]["status"] == "done"
    assert body["result"]["reply"].startswith("Today in Berlin: ")
    assert set(body["timings_ms"]) == {"action"}
    metrics = client.get("/metrics", headers=AUTH).text
    assert 'stage="action"' in metrics


def test_idempotency_key_header_creates_one_task(tmp_path, todoist_server):
    client = make_client(
        tmp_path,
        {"todoist_base_url": todoist_server.base_url},
        todoist_api_token=todoist_server.token,
    )
    request = {"intent": {"intent": "add_task", "parameters": {"content": "call mum"}}}
    headers = {**AUTH, "Idempotency-Key": "api-1"}
    first = client.post("/v1/act", json=request, headers=headers).json()["result"]
    retry = client.post("/v1/act", json=request, headers=headers).json()["result"]
    assert first["status"] == "done" and retry["replayed"] is True
    assert len(todoist_server.tasks) == 1
    other = {"intent": {"intent": "add_task", "parameters": {"content": "call dad"}}}
    conflict = client.post("/v1/act", json=other, headers=headers)
    assert conflict.status_code == 409
    assert "different request" in conflict.json()["error"]["message"]


def test_email_confirmation_over_the_api(tmp_path, smtp_server):
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("Mum: {email: mum@example.com, aliases: [mom]}\n")
    client = make_client(
        tmp_path,
        {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "smtp_user": smtp_server.user,
            "smtp_ca_file": str(smtp_server.cert),
            "contacts_file": str(contacts),
        },
        smtp_password=smtp_server.password,
    )
    call = {"intent": "send_email", "parameters": {"to": "mom", "body": "home soon"}}
    asked = client.post("/v1/act", json={"intent": call}, headers=AUTH).json()["result"]
    assert asked["status"] == "needs_confirmation"
    assert smtp_server.messages == []
    sent = client.post("/v1/act", json={"confirm": asked["confirmation_token"]}, headers=AUTH)
    assert sent.json()["result"]["reply"] == "Sent the e-mail to Mum."
    assert sent.json()["intent"] == "send_email"
    assert len(smtp_server.messages) == 1
    assert smtp_server.password not in sent.text + str(asked)


def test_an_email_without_a_recipient_asks_and_the_answer_sends_it(
    tmp_path, smtp_server, asking_parser
):
    contacts = tmp_path / "contacts.yaml"
    contacts.write_text("Mum: {email: mum@example.com, aliases: [mom]}\n")
    settings = {
        "smtp_host": "127.0.0.1",
        "smtp_port": smtp_server.port,
        "smtp_user": smtp_server.user,
        "smtp_ca_file": str(smtp_server.cert),
        "contacts_file": str(contacts),
    }
    client = make_client(
        tmp_path, settings, parsers=[asking_parser], smtp_password=smtp_server.password
    )
    first = client.post("/v1/act", json={"text": "send an email about the party"}, headers=AUTH)
    asked = first.json()
    assert first.status_code == 200, first.text
    assert (asked["intent"], asked["parameters"]) == ("send_email", {"subject": "the party"})
    assert (asked["missing"], asked["question"]) == (["to"], "Who should I send it to?")
    assert asked["result"]["status"] == "needs_clarification"
    assert asked["result"]["reply"] == "Who should I send it to?"
    assert asked["result"]["error"] == "missing_slot"

    answer = {"text": "to my mom", "conversation_id": asked["conversation_id"]}
    second = client.post("/v1/act", json=answer, headers=AUTH).json()
    assert second["parameters"] == {"to": "my mom", "subject": "the party"}
    assert (second["missing"], second["conversation_id"]) == ([], None)
    assert second["result"]["status"] == "needs_confirmation"  # e-mail asks before sending
    sent = client.post(
        "/v1/act", json={"confirm": second["result"]["confirmation_token"]}, headers=AUTH
    )
    assert sent.json()["result"]["reply"] == "Sent the e-mail to Mum."
    assert len(smtp_server.messages) == 1
    expired = client.post("/v1/act", json=answer, headers=AUTH)
    assert expired.status_code == 410
    assert expired.json()["error"]["type"] == "conversation_expired"


def test_an_intent_missing_a_slot_gets_the_question_without_acting(tmp_path, todoist_server):
    client = make_client(tmp_path, {"todoist_base_url": todoist_server.base_url})
    call = {"intent": "add_task", "parameters": {"due": "tomorrow"}}
    body = client.post("/v1/act", json={"intent": call}, headers=AUTH).json()
    assert (body["missing"], body["question"], body["conversation_id"]) == (
        ["content"],
        "What should I add?",
        None,
    )
    assert body["result"]["status"] == "needs_clarification"
    assert todoist_server.requests == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"text": "hi", "intent": {"intent": "none"}}, 422),
        ({}, 422),
        ({"intent": {"intent": "fly_to_the_moon", "parameters": {}}}, 400),
        ({"intent": {"intent": "add_task", "parameters": {"priority": 9}}}, 400),
        ({"intent": {"intent": "none"}, "conversation_id": "abc"}, 422),
    ],
)
def test_bad_requests_are_refused(tmp_path, body, status):
    response = make_client(tmp_path, {}).post("/v1/act", json=body, headers=AUTH)
    assert response.status_code == status
    assert "message" in response.json()["error"]


def test_text_without_a_loaded_model_is_503(tmp_path):
    response = make_client(tmp_path, {}).post("/v1/act", json={"text": "hi"}, headers=AUTH)
    assert response.status_code == 503


def test_text_is_parsed_by_the_model_then_acted_on(tmp_path, smollm2_parser, todoist_server):
    """The untuned SmolLM2 under the catalogue grammar: always a valid intent, dry-run here."""
    with make_client(
        tmp_path, {"todoist_base_url": todoist_server.base_url}, parsers=[smollm2_parser]
    ) as client:
        response = client.post(
            "/v1/act",
            json={"text": "remind me to call mum tomorrow at 6", "timezone": "Europe/London"},
            headers=AUTH,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["intent"] in ("add_task", "get_weather", "send_email", "none")
    assert body["result"]["status"] in (
        "done",
        "dry_run",
        "needs_confirmation",
        "needs_clarification",
        "failed",
    )
    assert body["timings_ms"]["parse"] > 0
    assert todoist_server.calls("POST", "/api/v1/tasks") == []


def test_several_requests_in_one_text_are_acted_on_in_order(
    tmp_path, todoist_server, open_meteo_server, multi_parser
):
    client = make_client(
        tmp_path,
        {
            "todoist_base_url": todoist_server.base_url,
            "geocoding_url": open_meteo_server.geocoding_url,
            "forecast_url": open_meteo_server.forecast_url,
            "dry_run": False,
        },
        parsers=[multi_parser],
        todoist_api_token=todoist_server.token,
    )
    text = "add milk to the shopping list and what's the weather in paris"
    body = client.post("/v1/act", json={"text": text}, headers=AUTH).json()
    assert (body["intent"], body["parameters"]) == (
        "add_task",
        {"content": "milk", "project": "shopping"},
    )
    assert [c["intent"] for c in body["calls"]] == ["add_task", "get_weather"]
    assert [c["result"]["status"] for c in body["calls"]] == ["done", "done"]
    assert body["result"] == body["calls"][0]["result"]
    replies = [c["result"]["reply"] for c in body["calls"]]
    assert body["reply"] == " ".join(replies)
    assert len(todoist_server.calls("POST", "/api/v1/tasks")) == 1

    # Only the call that misses a slot waits; the complete one is done now.
    asked = client.post(
        "/v1/act", json={"text": "remind me to call the garage and send an email"}, headers=AUTH
    ).json()
    assert [c["result"]["status"] for c in asked["calls"]] == ["done", "needs_clarification"]
    assert (asked["missing"], asked["question"]) == (["to"], "Who should I send it to?")
    assert asked["reply"].endswith("Who should I send it to?")
    assert asked["conversation_id"]
