"""POST /v1/voice on a real server, and the web page's microphone button in headless Chromium.

The browser is Debian's Chromium (scripts/install-system-deps.sh) driven by Playwright; its fake
microphone plays a WAV file, so the page records real audio through MediaRecorder (WebM/Opus).
"""

from __future__ import annotations

import base64
import io
import json
import shutil
import time
import wave
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
import pytest

from intentforge.catalogue import load_catalogue
from intentforge.config import VoiceConfig, load_settings
from intentforge.secrets import load_secrets
from intentforge.server.app import create_app
from intentforge.voice.audio import SAMPLE_RATE, decode_audio, wav_bytes
from intentforge.voice.tts import speaker_from
from servers.api import ApiServer

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "add_milk.wav"
API_KEY = "voice-test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(asking_parser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    state = tmp_path_factory.mktemp("voice-state")
    settings = load_settings(
        overrides={
            "actions": {"state_dir": str(state)},
            # The machine may be busy with other work; a slow parse must not turn into a 504.
            "server": {"request_timeout_s": 300},
            "voice": {"max_upload_bytes": 600_000},
        }
    )
    secrets = load_secrets(settings, {"INTENTFORGE_API_KEY": API_KEY})
    # The real model, but "send an email" answered as a tuned model does (tests/conftest.py).
    app = create_app(settings, secrets, parsers=[asking_parser], catalogue=load_catalogue())
    live = ApiServer(app).start()
    yield live
    live.stop()


def webm_opus(wav: bytes) -> bytes:
    """What a browser's MediaRecorder uploads: Opus in WebM at 48 kHz."""
    samples = decode_audio(wav, max_audio_s=30).samples
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48_000, layout="mono")
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=48_000)
        frame = av.AudioFrame.from_ndarray(
            (samples * 32767).astype(np.int16)[None, :], format="s16", layout="mono"
        )
        frame.sample_rate = SAMPLE_RATE
        frame.time_base = Fraction(1, SAMPLE_RATE)
        frame.pts = 0
        for resampled in resampler.resample(frame):
            for packet in stream.encode(resampled):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def post_voice(
    server: ApiServer,
    data: bytes,
    name: str,
    headers: dict[str, str] | None = None,
    **form: str,
) -> httpx.Response:
    return httpx.post(
        f"{server.url}/v1/voice",
        files={"audio": (name, data, "application/octet-stream")},
        data={"timezone": "Europe/London", **form},
        headers=AUTH if headers is None else headers,
        timeout=300,
    )


def test_a_spoken_question_is_answered_by_the_next_upload(server: ApiServer) -> None:
    speaker = speaker_from(VoiceConfig())
    first = post_voice(server, speaker.speak("Please send an email."), "ask.wav")
    assert first.status_code == 200, first.text
    asked = first.json()
    assert (asked["missing"], asked["question"]) == (["to"], "Who should I send it to?")
    assert asked["reply"] == "Who should I send it to?"  # spoken back as the reply audio
    assert asked["result"]["status"] == "needs_clarification"
    answer = speaker.speak("To my boss.")
    second = post_voice(server, answer, "answer.wav", conversation_id=asked["conversation_id"])
    assert second.status_code == 200, second.text
    done = second.json()
    assert done["intent"]["intent"] == "send_email"
    assert done["intent"]["parameters"]["to"].lower().strip(".") == "my boss"
    assert (done["missing"], done["conversation_id"]) == ([], None)
    late = post_voice(server, answer, "answer.wav", conversation_id=asked["conversation_id"])
    assert late.status_code == 410 and late.json()["error"]["type"] == "conversation_expired"


def test_webm_upload_returns_transcript_intent_result_and_spoken_reply(server: ApiServer) -> None:
    response = post_voice(server, webm_opus(EXAMPLE.read_bytes()), "speech.webm")
    assert response.status_code == 200, response.text
    body = response.json()
    assert "milk" in body["transcript"].lower()
    assert load_catalogue().validate(body["intent"]).to_dict() == body["intent"]
    assert body["result"]["reply"] == body["reply"]
    assert set(body["timings_ms"]) == {"decode", "stt", "parse", "act", "tts", "total"}
    reply = base64.b64decode(body["reply_audio"]["base64"])
    with wave.open(io.BytesIO(reply), "rb") as src:
        assert src.getnframes() > 0.3 * src.getframerate()
    metrics = httpx.get(f"{server.url}/metrics", timeout=10).text
    for stage in ("stt", "action", "tts"):
        assert f'intentforge_stage_duration_seconds_count{{stage="{stage}"}} ' in metrics


def test_voice_acts_so_it_needs_the_api_key(server: ApiServer) -> None:
    response = post_voice(server, EXAMPLE.read_bytes(), "speech.wav", headers={})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "unauthorized"


@pytest.mark.parametrize(
    ("data", "status", "kind", "words"),
    [
        (b"", 400, "audio", "empty"),
        (b"this is not audio at all" * 20, 400, "audio", "could not decode"),
        (
            wav_bytes(np.zeros(SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE),
            422,
            "no_speech",
            "silent",
        ),
        (bytes(700_000), 413, "payload_too_large", "over 600000 bytes"),
    ],
)
def test_bad_uploads_get_clear_json_errors(
    server: ApiServer, data: bytes, status: int, kind: str, words: str
) -> None:
    response = post_voice(server, data, "upload.wav")
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] == kind and words in error["message"]


def fake_microphone_wav(path: Path) -> Path:
    """The example request with silence around it, for Chromium's fake capture device."""
    with wave.open(str(EXAMPLE), "rb") as src:
        rate = src.getframerate()
        speech = np.frombuffer(src.readframes(src.getnframes()), dtype=np.int16)
    gap = np.zeros(int(0.5 * rate), dtype=np.int16)
    tail = np.zeros(int(3.0 * rate), dtype=np.int16)
    path.write_bytes(wav_bytes(np.concatenate([gap, speech, tail]), rate))
    return path


@pytest.mark.slow
def test_page_records_from_the_microphone_and_shows_transcript_and_intent(
    server: ApiServer, tmp_path: Path
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    capture = fake_microphone_wav(tmp_path / "mic.wav")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={capture}%noloop",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            page.evaluate(f"document.getElementById('api-key').value = '{API_KEY}'")
            button = page.locator("#voice-button")
            button.click()
            page.wait_for_function(
                "document.getElementById('voice-button').getAttribute('aria-pressed') === 'true'"
            )
            time.sleep(4.0)  # the fake microphone plays 0.5 s of silence, the request, silence
            button.click()
            # Done when the page shows an answer: "done in N ms", or an error message.
            page.wait_for_function(
                """() => {
                    const s = document.getElementById('voice-status').textContent;
                    return s !== '' && !s.startsWith('listening') && !s.startsWith('thinking');
                }""",
                timeout=300_000,
            )
            status = page.locator("#status").text_content() or ""
            assert status.startswith("200"), page.locator("#result").text_content()
            transcript = page.locator("#voice-transcript").text_content() or ""
            assert "milk" in transcript.lower()
            intent = page.locator("#voice-intent").text_content() or ""
            assert '"intent"' in intent
            assert json.loads(intent)["intent"] in load_catalogue().names
            assert page.locator("#voice-reply").text_content()
            assert (page.locator("#voice-audio").get_attribute("src") or "").startswith(
                "data:audio/wav;base64,"
            )
        finally:
            browser.close()


@pytest.mark.slow
def test_page_shows_the_question_and_sends_the_typed_answer_with_its_conversation(
    server: ApiServer,
) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run scripts/install-system-deps.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(server.url + "/")
            page.evaluate(f"document.getElementById('api-key').value = '{API_KEY}'")
            page.fill("#text", "send an email")
            page.click("#parse-form button")
            page.wait_for_function(
                "document.getElementById('status').textContent.includes('Who should I send')",
                timeout=120_000,
            )
            assert page.get_attribute("#text", "placeholder") == "answer: Who should I send it to?"
            page.fill("#text", "to anna")
            page.click("#parse-form button")
            page.wait_for_function(
                "document.getElementById('result').textContent.includes('anna')", timeout=120_000
            )
            body = json.loads(page.locator("#result").text_content() or "{}")
            assert (body["intent"], body["parameters"]) == ("send_email", {"to": "anna"})
            assert body["conversation_id"] is None
        finally:
            browser.close()
