"""The official `openai` client works against /v1/chat/completions: intents come as tool calls."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from fastapi.testclient import TestClient

from intentforge.config import load_settings
from intentforge.runtime import Parser
from intentforge.secrets import Secrets
from intentforge.server import create_app
from intentforge.server.openai_compat import CANNOT_HELP
from servers.api import ApiServer

API_KEY = "sk-local-test-key"


@pytest.fixture(scope="module")
def server(smollm2_parser: Parser) -> Iterator[ApiServer]:
    app = create_app(load_settings(None, {}), Secrets(api_key=API_KEY), parsers=[smollm2_parser])
    api = ApiServer(app).start()
    yield api
    api.stop()


@pytest.fixture(scope="module")
def client(server: ApiServer) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def tools(server: ApiServer) -> list[dict]:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    return httpx.get(f"{server.url}/v1/intents", headers=headers).json()["tools"]


def test_answers_are_tool_calls_of_catalogue_intents_or_a_refusal(
    client: openai.OpenAI, tools: list[dict], smollm2_parser: Parser
) -> None:
    catalogue = smollm2_parser.catalogue
    kinds = set()
    for text in ("remind me to buy milk tomorrow at 5pm", "play some jazz"):
        try:
            completion = client.chat.completions.create(
                model="intentforge",
                messages=[
                    {"role": "system", "content": "You are a helpful assistant."},
                    {"role": "user", "content": text},
                ],
                tools=tools,  # type: ignore[arg-type]
            )
        except openai.UnprocessableEntityError:
            continue  # the untuned model ran out of tokens: a 422, never a made-up call
        choice = completion.choices[0]
        assert completion.object == "chat.completion"
        assert completion.usage is not None and completion.usage.completion_tokens > 0
        if choice.finish_reason == "tool_calls":
            assert choice.message.tool_calls
            call = choice.message.tool_calls[0]
            assert call.type == "function"
            arguments = json.loads(call.function.arguments)
            catalogue.validate({"intent": call.function.name, "parameters": arguments})
            assert call.function.name != "none"
            kinds.add("tool")
        else:
            assert choice.finish_reason == "stop"
            assert choice.message.content == CANNOT_HELP
            assert not choice.message.tool_calls
            kinds.add("refusal")
    assert kinds


def test_an_intent_outside_the_offered_tools_is_answered_in_words(client: openai.OpenAI) -> None:
    other = {"type": "function", "function": {"name": "unrelated_tool", "parameters": {}}}
    try:
        completion = client.chat.completions.create(
            model="intentforge",
            messages=[{"role": "user", "content": "remind me to buy milk tomorrow at 5pm"}],
            tools=[other],  # type: ignore[list-item]
        )
    except openai.UnprocessableEntityError:
        pytest.skip("the untuned model produced no valid intent for this request")
    assert completion.choices[0].message.content == CANNOT_HELP
    assert completion.choices[0].message.tool_calls is None


def test_content_parts_are_read_as_the_user_text(client: openai.OpenAI) -> None:
    try:
        completion = client.chat.completions.create(
            model="intentforge",
            messages=[{"role": "user", "content": [{"type": "text", "text": "play some jazz"}]}],
        )
    except openai.UnprocessableEntityError:
        pytest.skip("the untuned model produced no valid intent for this request")
    assert completion.choices[0].finish_reason in ("stop", "tool_calls")


def test_models_lists_the_served_model(client: openai.OpenAI, smollm2_parser: Parser) -> None:
    assert [m.id for m in client.models.list()] == [smollm2_parser.model_path.name]


def test_wrong_key_is_an_authentication_error(server: ApiServer) -> None:
    bad = openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.chat.completions.create(model="x", messages=[{"role": "user", "content": "hi"}])


def test_streaming_and_messages_without_user_text_are_bad_requests(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="stream"):
        client.chat.completions.create(
            model="x", messages=[{"role": "user", "content": "hi"}], stream=True
        )
    with pytest.raises(openai.BadRequestError, match="no user message"):
        client.chat.completions.create(model="x", messages=[{"role": "system", "content": "hi"}])


def test_chat_before_the_model_is_loaded_is_503_with_retry_after() -> None:
    # The app's lifespan never runs under a bare TestClient: no model is loaded.
    app = create_app(load_settings(None, {}), Secrets(api_key=API_KEY))
    response = TestClient(app).post(
        "/v1/chat/completions",
        json={"model": "x", "messages": [{"role": "user", "content": "play some jazz"}]},
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) >= 1
    assert response.json()["error"]["message"] == "model still loading; retry shortly"


def test_a_missing_slot_is_asked_in_words_and_the_next_message_completes_the_tool_call(
    asking_parser: Parser, tools: list[dict]
) -> None:
    app = create_app(load_settings(None, {}), Secrets(api_key=API_KEY), parsers=[asking_parser])
    api = ApiServer(app).start()
    try:
        chat = openai.OpenAI(base_url=f"{api.url}/v1", api_key=API_KEY, max_retries=0, timeout=60)
        history: list[dict] = [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "send an email about the party"},
        ]
        asked = chat.chat.completions.create(model="x", messages=history, tools=tools)  # type: ignore[arg-type]
        choice = asked.choices[0]
        assert choice.finish_reason == "stop" and not choice.message.tool_calls
        assert choice.message.content == "Who should I send it to?"  # never an invented `to`

        history += [{"role": "assistant", "content": choice.message.content}]
        history += [{"role": "user", "content": "to anna"}]
        done = chat.chat.completions.create(model="x", messages=history, tools=tools)  # type: ignore[arg-type]
        call = done.choices[0].message.tool_calls[0]
        assert done.choices[0].finish_reason == "tool_calls"
        assert call.function.name == "send_email"
        assert json.loads(call.function.arguments) == {"to": "anna", "subject": "the party"}
    finally:
        api.stop()


def test_only_our_own_question_makes_the_next_message_an_answer() -> None:
    from intentforge.server.openai_compat import _turns
    from intentforge.server.schemas import ChatMessage

    asked = "Who should I send it to?"

    def chat(*said: tuple[str, object]) -> list[ChatMessage]:
        return [ChatMessage(role=role, content=content) for role, content in said]  # type: ignore[arg-type]

    history = chat(("user", "send an email"), ("assistant", asked), ("user", "to anna"))
    assert _turns(history, {asked}) == [(None, "send an email"), (asked, "to anna")]
    # Another assistant's words, parts instead of text, or no request before: a new request.
    for other in (
        chat(("user", "hi"), ("assistant", "Hello! How can I help?"), ("user", "to anna")),
        chat(("user", "hi"), ("assistant", [{"type": "text", "text": asked}]), ("user", "anna")),
        chat(("system", "be brief"), ("assistant", asked), ("user", "to anna")),
    ):
        assert len(_turns(other, {asked})) == 1


def test_several_requests_are_several_tool_calls_in_one_message(
    multi_parser: Parser, tools: list[dict]
) -> None:
    app = create_app(load_settings(None, {}), Secrets(api_key=API_KEY), parsers=[multi_parser])
    api = ApiServer(app).start()
    try:
        chat = openai.OpenAI(base_url=f"{api.url}/v1", api_key=API_KEY, max_retries=0, timeout=60)

        def ask(history: list[dict], offered: list[dict] = tools) -> Any:
            return chat.chat.completions.create(model="x", messages=history, tools=offered).choices[
                0
            ]  # type: ignore[arg-type]

        text = "add milk to the shopping list and what's the weather in paris"
        two = ask([{"role": "user", "content": text}])
        assert two.finish_reason == "tool_calls"
        assert [
            (c.function.name, json.loads(c.function.arguments)) for c in two.message.tool_calls
        ] == [
            ("add_task", {"content": "milk", "project": "shopping"}),
            ("get_weather", {"location": "paris"}),
        ]
        assert len({c.id for c in two.message.tool_calls}) == 2
        # An out-of-scope part is left out; a tool not offered is too.
        lights = ask(
            [{"role": "user", "content": "turn on the lights and add bread to my groceries list"}]
        )
        assert [c.function.name for c in lights.message.tool_calls] == ["add_task"]
        weather_only = [t for t in tools if t["function"]["name"] == "get_weather"]
        assert [
            c.function.name
            for c in ask([{"role": "user", "content": text}], weather_only).message.tool_calls
        ] == ["get_weather"]

        # A missing slot is asked first; the answer completes it and every call comes at once.
        history: list[dict] = [
            {"role": "user", "content": "remind me to call the garage and send an email"}
        ]
        asked = ask(history)
        assert asked.finish_reason == "stop" and asked.message.content == "Who should I send it to?"
        history += [{"role": "assistant", "content": asked.message.content}]
        history += [{"role": "user", "content": "to anna"}]
        done = ask(history)
        assert [
            (c.function.name, json.loads(c.function.arguments)) for c in done.message.tool_calls
        ] == [
            ("add_task", {"content": "call the garage"}),
            ("send_email", {"to": "anna"}),
        ]
    finally:
        api.stop()
