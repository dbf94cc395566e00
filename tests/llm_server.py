"""A scripted OpenAI-compatible chat-completions server on 127.0.0.1 for the LLM generator's tests.

It answers `POST /v1/chat/completions` with rows made deterministically from what the prompt asks
for (the intent, and per row the optional slots), or, as scripted, with malformed JSON, rows that
violate the schema, 429 with Retry-After (seconds, a date, or unreadable), 500, 503, 401, or a
dropped connection.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from intentforge.catalogue import OUT_OF_SCOPE, Catalogue
from servers.local_http import QuietHTTPServer

_INTENT = re.compile(r'Write (\d+) requests for the intent "(\w+)"')
_SLOTS = re.compile(r"^\d+\. slots: (.*?) \|", re.MULTILINE)
_TOPICS = re.compile(r"^\d+\. topic: (.*?) \|", re.MULTILINE)

# What the server can be scripted to do, one action per request, in order; "ok" once exhausted.
ACTIONS = (
    "ok",
    "fenced",
    "doubled",
    "malformed",
    "invalid",
    "429",
    "429-date",
    "429-soon",
    "503-soon",
    "500",
    "drop",
    "401",
)


@dataclass
class Seen:
    """One request as the server received it."""

    action: str
    body: dict[str, Any]
    headers: dict[str, str]
    at_s: float


class FakeLLMServer:
    def __init__(self, catalogue: Catalogue, *, delay_s: float = 0.0, cost: float | None = 0.0005):
        self.catalogue = catalogue
        self.delay_s = delay_s
        self.cost = cost
        self.script: deque[str] = deque()
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._numbers = itertools.count(1)
        self._httpd = QuietHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def enqueue(self, *actions: str) -> None:
        unknown = set(actions) - set(ACTIONS)
        assert not unknown, unknown
        self.script.extend(actions)

    def _next_action(self, body: dict[str, Any], headers: dict[str, str]) -> str:
        with self._lock:
            action = self.script.popleft() if self.script else "ok"
            self.seen.append(Seen(action, body, headers, time.monotonic()))
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return action

    def _done(self) -> None:
        with self._lock:
            self.in_flight -= 1

    def rows_for(self, prompt: str) -> list[dict[str, Any]]:
        """Good rows for what `prompt` asks: one per numbered line, each text unique."""
        match = _INTENT.search(prompt)
        assert match, "prompt names no intent"
        name = match.group(2)
        if name == OUT_OF_SCOPE:
            topics = _TOPICS.findall(prompt)
            return [
                {
                    "text": f"tell me something about {t} number {next(self._numbers)}",
                    "intent": OUT_OF_SCOPE,
                    "parameters": {},
                }
                for t in topics
            ]
        intent = self.catalogue[name]
        schema = intent.parameters.model_json_schema()["properties"]
        rows = []
        for listed in _SLOTS.findall(prompt):
            k = next(self._numbers)
            wanted = [s for s in listed.split(", ") if s != "-"]
            slots = [s for s in intent.slots if s in intent.required_slots or s in wanted]
            text = f"{name.replace('_', ' ')} request {k}"
            parameters: dict[str, Any] = {}
            for slot in slots:
                prop = schema[slot]
                kind = {
                    **prop,
                    **next(p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"),
                }
                if kind.get("type") == "integer":
                    low, high = kind.get("minimum", 0), kind.get("maximum", 9)
                    value: Any = low + k % (high - low + 1)
                    text += f" {slot} {value}"
                else:
                    value = f"{slot} {k}"
                    text += f" with {value}"
                parameters[slot] = value
            rows.append({"text": text, "intent": name, "parameters": parameters})
        return rows

    def invalid_rows_for(self, prompt: str) -> list[Any]:
        """One row for each way a row can be wrong."""
        good = self.rows_for(prompt)[0]
        name = good["intent"]
        return [
            "not an object",
            {**good, "text": "   "},
            {**good, "text": "word " * 100},
            {**good, "parameters": {**good["parameters"], "bogus": "x"}},
            {**good, "intent": "no_such_intent"},
            {**good, "text": "something else entirely"}
            if good["parameters"]
            else {**good, "parameters": {"anything": "x"}},
            {"intent": name, "parameters": good["parameters"]},
        ]

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found"}})
                    return
                action = server._next_action(body, {k.lower(): v for k, v in self.headers.items()})
                try:
                    time.sleep(server.delay_s)
                    self._answer(action, body)
                finally:
                    server._done()

            def _answer(self, action: str, body: dict[str, Any]) -> None:
                if action == "drop":
                    self.close_connection = True  # close the socket without a response
                    return
                if action in ("429", "429-date"):
                    # An HTTP date has whole seconds: +2 s means a wait of 1 to 2 s.
                    after = (
                        "1"
                        if action == "429"
                        else email.utils.formatdate(time.time() + 2, usegmt=True)
                    )
                    self._json(429, {"error": {"message": "rate limited"}}, {"Retry-After": after})
                    return
                if action in ("429-soon", "503-soon"):
                    # Not a number of seconds nor an HTTP date: the client uses its own backoff.
                    status = int(action.split("-")[0])
                    self._json(status, {"error": {"message": "busy"}}, {"Retry-After": "soon"})
                    return
                if action == "500":
                    self._json(500, {"error": {"message": "upstream exploded"}})
                    return
                if action == "401":
                    self._json(401, {"error": {"message": "invalid api key"}})
                    return
                prompt = body["messages"][-1]["content"]
                if action == "malformed":
                    content = '{"rows": [{"text": "add milk", "intent": '
                elif action == "invalid":
                    content = json.dumps({"rows": server.invalid_rows_for(prompt)})
                elif action == "doubled":
                    rows = server.rows_for(prompt)
                    content = json.dumps({"rows": [r for row in rows for r in (row, row)]})
                elif action == "fenced":
                    content = "```json\n" + json.dumps({"rows": server.rows_for(prompt)}) + "\n```"
                else:
                    content = json.dumps({"rows": server.rows_for(prompt)})
                usage: dict[str, Any] = {
                    "prompt_tokens": len(prompt) // 4,
                    "completion_tokens": len(content) // 4,
                    "total_tokens": len(prompt) // 4 + len(content) // 4,
                }
                if server.cost is not None:
                    usage["cost"] = server.cost
                self._json(
                    200,
                    {
                        "id": f"chatcmpl-{len(server.seen)}",
                        "object": "chat.completion",
                        "created": int(time.time()),
                        "model": body.get("model", "fake"),
                        "choices": [
                            {
                                "index": 0,
                                "message": {"role": "assistant", "content": content},
                                "finish_reason": "stop",
                            }
                        ],
                        "usage": usage,
                    },
                )

            def _json(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler
