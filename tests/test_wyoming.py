"""The Wyoming service as Home Assistant uses it: the `wyoming` library's own client against the
real service on 127.0.0.1 with the untuned SmolLM2.

Untuned, the model may pick the wrong intent, so content is checked against the same parse and
action run directly; a parser told to refuse everything (runtime.refuse_at 0) gives a sure
out-of-scope answer. Actions run dry, the weather against a local Open-Meteo.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from wyoming.asr import Transcript
from wyoming.client import AsyncTcpClient
from wyoming.event import Event, Eventable
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info, SelectProgram
from wyoming.intent import Intent, IntentsStart, IntentsStop, NotRecognized, Recognize

from intentforge.actions import NONE_REPLY, ActionRunner, ActionStatus
from intentforge.catalogue import load_catalogue
from intentforge.config import RuntimeConfig, Settings, load_settings
from intentforge.runtime import Parser
from intentforge.secrets import load_secrets
from intentforge.server.wyoming import (
    HANDLE_PROGRAM,
    INTENT_PROGRAM,
    WyomingService,
    entities,
)
from intentforge.voice.loop import Stages, answer
from servers.open_meteo import OpenMeteoServer
from servers.ports import reserve_port
from servers.wyoming import WyomingServer, wait_for_port

CLI = [sys.executable, "-c", "from intentforge.cli import main; main()"]
# Home Assistant gives a Wyoming service this long to answer Describe.
DESCRIBE_TIMEOUT_S = 1.0
# A parse on a busy 2-core machine; generous, so a slow machine fails no test.
ANSWER_TIMEOUT_S = 120.0


@pytest.fixture(scope="module")
def weather() -> Iterator[OpenMeteoServer]:
    server = OpenMeteoServer(today=datetime.now(UTC).date()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def settings(weather: OpenMeteoServer, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    # Dry runs only; every service an action could call is on 127.0.0.1.
    return load_settings(
        overrides={
            "actions": {
                "dry_run": True,
                "state_dir": str(tmp_path_factory.mktemp("wyoming-state")),
                "geocoding_url": weather.geocoding_url,
                "forecast_url": weather.forecast_url,
                "todoist_base_url": "http://127.0.0.1:9",
                "smtp_host": "127.0.0.1",
            },
            "server": {"request_timeout_s": ANSWER_TIMEOUT_S},
        }
    )


def serve(settings: Settings, parser: Parser) -> Iterator[WyomingServer]:
    service = WyomingService(settings, load_secrets(settings, {}), [parser])
    server = WyomingServer(service).start()
    yield server
    server.stop()
    service.close()


@pytest.fixture(scope="module")
def server(settings: Settings, smollm2_parser: Parser) -> Iterator[WyomingServer]:
    yield from serve(settings, smollm2_parser)


@pytest.fixture(scope="module")
def refusing_server(settings: Settings, smollm2_gguf: Path) -> Iterator[WyomingServer]:
    """The same model told to answer out-of-scope whatever it hears (runtime.refuse_at 0)."""
    config = RuntimeConfig(
        max_tokens=48, n_threads=1, max_calls=1, jump_forward=True, refuse_at=0.0
    )
    parser = Parser(smollm2_gguf, load_catalogue(), config)
    yield from serve(settings, parser)
    parser.close()


@pytest.fixture(scope="module")
def runner(settings: Settings) -> Iterator[ActionRunner]:
    with ActionRunner(settings, load_secrets(settings, {})) as runner:
        yield runner


async def exchange(port: int, *requests: Eventable | Event, answers: int = 1) -> list[Event]:
    async with AsyncTcpClient("127.0.0.1", port, read_timeout=ANSWER_TIMEOUT_S) as client:
        for request in requests:
            await client.write_event(request if isinstance(request, Event) else request.event())
        received = [await client.read_event() for _ in range(answers)]
    assert all(event is not None for event in received), "the service closed the connection"
    return [event for event in received if event is not None]


def ask(server: WyomingServer, *requests: Eventable | Event, answers: int = 1) -> list[Event]:
    return asyncio.run(exchange(server.port, *requests, answers=answers))


def busy_workers(server: WyomingServer) -> float:
    value = server.service.pool.metrics.registry.get_sample_value("intentforge_busy_workers")
    return value or 0.0


def test_describe_offers_a_handle_and_an_intent_program_within_a_second(
    server: WyomingServer, smollm2_gguf: Path
) -> None:
    started = time.perf_counter()
    (event,) = ask(server, Describe())
    assert time.perf_counter() - started < DESCRIBE_TIMEOUT_S
    info = Info.from_event(event)
    (handle,) = info.handle
    (intent,) = info.intent
    assert (handle.name, intent.name) == (HANDLE_PROGRAM, INTENT_PROGRAM)
    for program in (handle, intent):
        (model,) = program.models
        assert program.installed and model.installed
        assert model.name == smollm2_gguf.name and model.languages == ["en"]
        assert "add_task" in program.description and "none" not in program.description.split()
    assert not handle.supports_home_control  # it acts on Todoist, the weather and e-mail


@pytest.mark.parametrize(
    "text",
    [
        "what's the weather in Paris tomorrow",
        "add buy milk to my shopping list for tomorrow",
        "send an email to anna saying I'm late",
    ],
)
def test_a_transcript_gets_the_reply_of_the_same_turn_run_directly(
    server: WyomingServer, smollm2_parser: Parser, runner: ActionRunner, text: str
) -> None:
    heard = Transcript(text, context={"conversation_id": "01HA"}, language="en")
    (event,) = ask(server, heard)
    turn = answer(text, smollm2_parser.parse, lambda c, r: runner.act(c, resolved=r), Stages())
    refused = turn.outcome.action is None or turn.outcome.status == ActionStatus.FAILED
    expected = NotHandled if refused else Handled
    assert expected.is_type(event.type), (event, turn.outcome)
    assert event.data == {"text": turn.reply, "context": {"conversation_id": "01HA"}}
    # Only the weather, which changes nothing, runs for real: tasks and e-mails stay dry runs.
    done = turn.outcome.status == ActionStatus.DONE
    assert not done or turn.outcome.action in (None, "open_meteo")  # None: nothing to do


@pytest.mark.parametrize(
    "requests",
    [
        (
            SelectProgram(INTENT_PROGRAM),
            Transcript("add buy milk to my shopping list for tomorrow"),
        ),
        (Recognize("add buy milk to my shopping list for tomorrow"),),
    ],
    ids=["selected-intent-program", "recognize"],
)
def test_the_intent_program_names_the_intent_the_parser_finds(
    server: WyomingServer, smollm2_parser: Parser, requests: tuple[Eventable, ...]
) -> None:
    (event,) = ask(server, *requests)
    parsed = smollm2_parser.parse("add buy milk to my shopping list for tomorrow")
    if parsed.call.intent == "none":
        assert NotRecognized.from_event(event) == NotRecognized(text=NONE_REPLY)
        return
    recognised = Intent.from_event(event)
    assert recognised.name == parsed.call.intent
    assert recognised.entities == entities(parsed.calls[0])
    assert {e.name: e.value for e in recognised.entities}.items() >= parsed.call.parameters.items()


def test_an_out_of_scope_request_is_not_handled_and_not_recognized(
    refusing_server: WyomingServer,
) -> None:
    context = {"conversation_id": "01HB"}
    handled, selected, recognised = (
        ask(refusing_server, Transcript("turn on the kitchen lights", context=context))[0],
        ask(refusing_server, SelectProgram(INTENT_PROGRAM), Transcript("turn on the lights"))[0],
        ask(refusing_server, Recognize("turn on the lights", context=context))[0],
    )
    assert NotHandled.from_event(handled) == NotHandled(text=NONE_REPLY, context=context)
    assert NotRecognized.from_event(selected) == NotRecognized(text=NONE_REPLY)
    assert NotRecognized.from_event(recognised) == NotRecognized(text=NONE_REPLY, context=context)


def test_describe_is_answered_while_a_request_is_parsed(server: WyomingServer) -> None:
    long_request = (
        "please add a task to call the plumber about the leaking kitchen tap and the broken "
        "boiler in the basement to my house list for next tuesday morning at nine"
    )

    async def scenario() -> list[float]:
        latencies = []
        async with (
            AsyncTcpClient("127.0.0.1", server.port, read_timeout=ANSWER_TIMEOUT_S) as parsing,
            AsyncTcpClient("127.0.0.1", server.port, read_timeout=DESCRIBE_TIMEOUT_S) as other,
        ):
            await parsing.write_event(Transcript(long_request).event())
            while busy_workers(server) < 1:
                await asyncio.sleep(0.005)
            for client in (
                other,
                parsing,
            ):  # another connection, as Home Assistant opens, and the same
                started = time.perf_counter()
                await client.write_event(Describe().event())
                event = await asyncio.wait_for(client.read_event(), DESCRIBE_TIMEOUT_S)
                latencies.append(time.perf_counter() - started)
                assert event is not None and Info.is_type(event.type)
            assert busy_workers(server) == 1, "the parse ended before Describe was answered"
            event = await parsing.read_event()
            assert event is not None and (
                Handled.is_type(event.type) or NotHandled.is_type(event.type)
            )
        return latencies

    latencies = asyncio.run(scenario())
    assert max(latencies) < DESCRIBE_TIMEOUT_S


@pytest.mark.parametrize(
    ("text", "language", "reason"),
    [
        ("", None, "empty"),
        ("buy milk " * 200, None, "server.max_text_chars"),
        ("füge Milch zur Einkaufsliste hinzu", "de", "English"),
    ],
    ids=["empty", "too-long", "german"],
)
def test_a_request_refused_before_parsing_says_why(
    server: WyomingServer, text: str, language: str | None, reason: str
) -> None:
    handled, recognised = ask(
        server,
        Transcript(text, language=language),
        SelectProgram(INTENT_PROGRAM),
        Transcript(text, language=language),
        answers=2,
    )
    assert NotHandled.is_type(handled.type) and reason in handled.data["text"]
    assert NotRecognized.is_type(recognised.type) and reason in recognised.data["text"]


def test_unknown_programs_and_events_are_ignored(server: WyomingServer) -> None:
    (event,) = ask(server, SelectProgram("no-such-program"), Event("no-such-event"), Describe())
    assert Info.is_type(event.type)


# The CLI: `intentforge wyoming` as a user starts it.


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTENTFORGE_", "TODOIST_"))}
    return env | {
        "INTENTFORGE_ACTIONS__DRY_RUN": "true",
        "INTENTFORGE_ACTIONS__STATE_DIR": str(tmp_path / "state"),
        "INTENTFORGE_RUNTIME__N_THREADS": "1",
    }


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, "wyoming", *args],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--model", "missing.gguf"), "missing.gguf"),
        (("--uri", "http://127.0.0.1:10700"), "tcp://"),
        (("--uri", "tcp://127.0.0.1"), "port"),
        (("--transcript-program", "both"), "wyoming.transcript_program"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = run_cli(tmp_path, "--uri", f"tcp://127.0.0.1:{reserve_port()}", *args)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    (line,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert message in line


def test_the_cli_serves_until_sigterm_and_a_taken_port_is_an_error(
    tmp_path: Path, smollm2_gguf: Path
) -> None:
    port = reserve_port()
    args = ["--uri", f"tcp://127.0.0.1:{port}", "--model", str(smollm2_gguf)]
    service = subprocess.Popen(
        [*CLI, "wyoming", *args],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, 60)
        (event,) = asyncio.run(exchange(port, Describe()))
        assert Info.from_event(event).handle[0].name == HANDLE_PROGRAM
        taken = run_cli(tmp_path, *args)
        assert taken.returncode == 2 and f"cannot listen on tcp://127.0.0.1:{port}" in taken.stderr
        service.send_signal(signal.SIGTERM)
        _, stderr = service.communicate(timeout=30)
        assert service.returncode == 0, stderr
        assert "Traceback" not in stderr
    finally:
        if service.poll() is None:
            service.kill()
            service.communicate()


@pytest.fixture(scope="module")
def asking_server(settings: Settings, asking_parser) -> Iterator[WyomingServer]:
    yield from serve(settings, asking_parser)


def test_a_missing_recipient_is_asked_for_and_the_next_transcript_answers_it(
    asking_server: WyomingServer,
) -> None:
    conversation = {"conversation_id": "ha-conversation-1"}
    (asked,) = ask(asking_server, Transcript(text="send an email", context=conversation))
    question = Handled.from_event(asked)
    assert question.text == "Who should I send it to?"
    assert question.context == conversation
    (done,) = ask(asking_server, Transcript(text="to anna", context=conversation))
    assert Handled.is_type(done.type), done
    reply = Handled.from_event(done).text or ""
    assert "anna" in reply.lower() and "who should" not in reply.lower()


@pytest.fixture(scope="module")
def multi_server(settings: Settings, multi_parser) -> Iterator[WyomingServer]:
    yield from serve(settings, multi_parser)


MILK_AND_PARIS = "add milk to the shopping list and what's the weather in paris"


def test_several_requests_are_handled_in_one_reply_that_joins_each_calls(
    multi_server: WyomingServer, multi_parser, runner: ActionRunner
) -> None:
    (event,) = ask(multi_server, Transcript(MILK_AND_PARIS, context={"conversation_id": "m1"}))
    turn = answer(
        MILK_AND_PARIS, multi_parser.parse, lambda c, r: runner.act(c, resolved=r), Stages()
    )
    assert [o.intent for o in turn.outcomes] == ["add_task", "get_weather"]
    assert Handled.is_type(event.type), event
    assert event.data["text"] == turn.reply == " ".join(o.reply for o in turn.outcomes)


def test_the_intent_program_names_each_intent_of_several_requests(
    multi_server: WyomingServer,
) -> None:
    events = ask(multi_server, Recognize(MILK_AND_PARIS), answers=4)
    assert IntentsStart.is_type(events[0].type) and IntentsStop.is_type(events[3].type)
    first, second = (Intent.from_event(e) for e in events[1:3])
    assert (first.name, second.name) == ("add_task", "get_weather")
    assert {e.name: e.value for e in second.entities} == {"location": "paris"}
    # An out-of-scope part is left out: one intent is an Intent alone, as for one request.
    (alone,) = ask(multi_server, Recognize("turn on the lights and add bread to my groceries list"))
    assert Intent.from_event(alone).name == "add_task"


def test_of_several_requests_only_the_incomplete_one_waits_for_the_next_transcript(
    multi_server: WyomingServer,
) -> None:
    conversation = {"conversation_id": "ha-multi-1"}
    text = "remind me to call the garage and send an email"
    (asked,) = ask(multi_server, Transcript(text=text, context=conversation))
    reply = Handled.from_event(asked).text or ""
    assert reply.startswith("Dry run") and reply.endswith("Who should I send it to?")
    (done,) = ask(multi_server, Transcript(text="to anna", context=conversation))
    finished = Handled.from_event(done).text or ""
    assert "anna" in finished.lower() and "garage" not in finished.lower()
