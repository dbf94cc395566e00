"""Conversations: short-lived, bounded, thread-safe, and the follow-up that completes a call."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from intentforge.catalogue import load_catalogue
from intentforge.config import RuntimeConfig
from intentforge.runtime import ConversationExpired, Conversations, Parser, ParseResult
from intentforge.runtime.conversation import replay

NOW = datetime(2026, 11, 25, 13, 30, tzinfo=UTC)
CATALOGUE = load_catalogue()


def asking(raw: str, timezone: str = "UTC") -> ParseResult:
    """What the runtime answers when the model leaves a required slot out (`raw`)."""
    call = CATALOGUE.validate(raw)
    return ParseResult(
        call=call,
        resolved={},
        raw=raw,
        timings_ms={"total": 1.0},
        tokens=12,
        timezone=timezone,
        missing=CATALOGUE.missing(call),
        question=CATALOGUE.question(call),
    )


SEND_AN_EMAIL = asking('{"intent":"send_email","parameters":{"subject":"the party"}}')


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_held_call_comes_back_once_under_its_id() -> None:
    store = Conversations(ttl_s=60, max_open=10)
    held = store.hold(SEND_AN_EMAIL)
    assert held.conversation_id and held.call == SEND_AN_EMAIL.call
    assert len(store) == 1
    pending = store.take(held.conversation_id)
    assert pending.call == SEND_AN_EMAIL.call and pending.conversation_id is None
    with pytest.raises(ConversationExpired, match="say the whole request again") as caught:
        store.take(held.conversation_id)  # a question is answered once
    assert caught.value.status_code == 410
    with pytest.raises(ConversationExpired):
        store.take("never-issued")


def test_a_conversation_expires_after_its_time_to_live() -> None:
    clock = Clock()
    store = Conversations(ttl_s=120, max_open=10, clock=clock)
    first = store.hold(SEND_AN_EMAIL)
    clock.now += 60
    second = store.hold(SEND_AN_EMAIL)
    clock.now += 61  # the first is 121 s old, the second 61 s
    assert len(store) == 1
    with pytest.raises(ConversationExpired, match="120 s"):
        store.take(str(first.conversation_id))
    assert store.take(str(second.conversation_id)).call == SEND_AN_EMAIL.call


def test_the_store_is_bounded_and_drops_the_oldest_first() -> None:
    store = Conversations(ttl_s=60, max_open=3)
    ids = [store.hold(SEND_AN_EMAIL).conversation_id for _ in range(5)]
    assert len(store) == 3
    for dropped in ids[:2]:
        with pytest.raises(ConversationExpired):
            store.take(str(dropped))
    for kept in ids[2:]:
        store.take(str(kept))
    assert len(store) == 0


def test_workers_share_one_store_safely() -> None:
    store = Conversations(ttl_s=60, max_open=10_000)
    taken: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        try:
            start.wait()
            for _ in range(300):
                held = store.hold(SEND_AN_EMAIL)
                assert store.take(str(held.conversation_id)).call == SEND_AN_EMAIL.call
                with lock:
                    taken.append(str(held.conversation_id))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(taken) == len(set(taken)) == 2400  # every id unique, each taken exactly once
    assert len(store) == 0


def test_bad_limits_are_refused_and_settings_build_the_store() -> None:
    with pytest.raises(ValueError):
        Conversations(ttl_s=0, max_open=1)
    store = Conversations.for_runtime(RuntimeConfig(conversation_ttl_s=30, max_conversations=7))
    assert (store.ttl_s, store.max_open) == (30, 7)


def test_the_follow_up_completes_the_call_without_the_model(smollm2_parser: Parser) -> None:
    store = Conversations(ttl_s=60, max_open=10)
    held = store.hold(SEND_AN_EMAIL)
    done = store.turn(smollm2_parser, "to anna", conversation_id=held.conversation_id, now=NOW)
    assert done.call.to_dict() == {
        "intent": "send_email",
        "parameters": {"to": "anna", "subject": "the party"},
    }
    assert (done.missing, done.question, done.conversation_id) == ((), None, None)
    assert done.tokens == 0 and done.raw == SEND_AN_EMAIL.raw
    assert len(store) == 0


def test_a_follow_up_date_is_resolved_in_the_first_turns_time_zone(smollm2_parser: Parser) -> None:
    task = asking('{"intent":"add_task","parameters":{"due":"tomorrow at 5pm"}}', "Europe/Paris")
    done = smollm2_parser.follow_up(task, "Call the plumber.", now=NOW)
    assert done.call.parameters == {"content": "Call the plumber", "due": "tomorrow at 5pm"}
    assert done.resolved["due"] == {"text": "tomorrow at 5pm", "iso": "2026-11-26T17:00:00+01:00"}
    assert done.timezone == "Europe/Paris" and done.missing == ()
    # A time said with the answer moves to the empty due slot, as in any request.
    asked = asking('{"intent":"add_task","parameters":{}}')
    later = smollm2_parser.follow_up(asked, "pick up the kids at 3:30", now=NOW)
    assert later.call.parameters == {"content": "pick up the kids", "due": "3:30"}


def test_an_answer_that_does_not_fit_is_asked_again_and_cancel_drops_it(
    smollm2_gguf, fixtures_dir
) -> None:
    catalogue = load_catalogue([fixtures_dir / "user_intents.yaml"])
    parser = Parser(smollm2_gguf, catalogue, RuntimeConfig(n_threads=1, max_calls=1))
    try:
        call = catalogue.validate({"intent": "set_thermostat", "parameters": {"room": "kitchen"}})
        pending = ParseResult(call, {}, "", {}, 0, missing=("temperature",), question="?")
        store = Conversations(ttl_s=60, max_open=10)
        again = store.turn(parser, "banana", conversation_id=store.hold(pending).conversation_id)
        assert again.missing == ("temperature",)
        assert again.question == "What temperature should I set?"
        assert again.conversation_id is not None  # a new id for the repeated question
        done = store.turn(parser, "twenty one", conversation_id=again.conversation_id)
        assert done.call.parameters == {"temperature": 21, "room": "kitchen"}
        dropped = parser.follow_up(pending, "never mind")
        assert (dropped.call.intent, dropped.missing) == ("none", ())
    finally:
        parser.close()


def test_replay_completes_a_conversation_whose_history_the_client_kept(
    smollm2_parser: Parser,
) -> None:
    parsed: list[str] = []

    class Asks:
        """The loaded parser, but its model answers "send an email" as a tuned model does and
        anything else as out of scope."""

        catalogue = smollm2_parser.catalogue

        def parse(self, text: str, **options: object) -> ParseResult:
            parsed.append(text)
            if text == "send an email":
                return SEND_AN_EMAIL
            return asking('{"intent":"none","parameters":{}}')

        def follow_up(self, pending: ParseResult, text: str, **options: object) -> ParseResult:
            return smollm2_parser.follow_up(pending, text, now=NOW)

    turns = [(None, "send an email"), ("Who should I send it to?", "to anna")]
    done = replay(Asks(), turns)  # type: ignore[arg-type]
    assert done.call.parameters == {"to": "anna", "subject": "the party"}
    assert parsed == ["send an email"]  # the answer needs no model call
    # An answer to a question this call does not ask is parsed as a request of its own.
    parsed.clear()
    other = [(None, "send an email"), ("What should I add?", "play some jazz")]
    assert replay(Asks(), other).call.intent == "none"  # type: ignore[arg-type]
    assert parsed == ["send an email", "play some jazz"]


def test_of_several_calls_only_the_incomplete_one_waits(multi_parser: Parser) -> None:
    store = Conversations(ttl_s=60, max_open=10)
    asked = store.turn(multi_parser, "remind me to call the garage and send an email")
    assert asked.conversation_id is not None
    assert [c.call.intent for c in asked.calls] == ["add_task", "send_email"]
    done = store.turn(multi_parser, "to anna", conversation_id=asked.conversation_id)
    # The task was complete and is acted on with the first answer; the e-mail alone waited.
    assert [c.call.to_dict() for c in done.calls] == [
        {"intent": "send_email", "parameters": {"to": "anna"}}
    ]
    assert done.waiting is None and done.conversation_id is None
