"""Conversations: an incomplete call waits, by conversation id, for the answer to its question.

"send an email" parses to send_email without `to`; the answer carries `missing`, `question` and a
`conversation_id`, and the next request with that id ("to anna") completes the call
(runtime/followup.py). The state is short-lived and small: calls only, in memory, each for
`ttl_s`, at most `max_open` at once (the oldest dropped first), nothing written anywhere, so a
restart forgets them, as it should. One store per process, shared by every worker thread of the
server's pool behind one lock: the server runs one process, so no other store is needed (several
replicas behind a load balancer would need sticky sessions or a shared store).

An expired or unknown id is an error (410, "say the whole request again") rather than a new
request: "anna" or "buy milk" parsed alone might act on something the user never asked for.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from intentforge.config import RuntimeConfig
from intentforge.errors import IntentforgeError

if TYPE_CHECKING:
    from intentforge.runtime.parser import Parser, ParseResult


class ConversationExpired(IntentforgeError):
    """The conversation id is unknown, or its question waited longer than its time to live."""

    status_code = 410


class Conversations:
    """Incomplete calls by conversation id: each kept `ttl_s` seconds, at most `max_open` (the
    oldest dropped first); thread-safe. `clock` is for tests."""

    def __init__(
        self, ttl_s: float, max_open: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if ttl_s <= 0 or max_open < 1:
            raise ValueError("conversations need a positive time to live and room for one")
        self.ttl_s = ttl_s
        self.max_open = max_open
        self._clock = clock
        self._lock = threading.Lock()
        self._open: OrderedDict[str, tuple[float, ParseResult]] = OrderedDict()

    @classmethod
    def for_runtime(cls, config: RuntimeConfig) -> Conversations:
        """The store runtime.conversation_ttl_s and runtime.max_conversations describe."""
        return cls(config.conversation_ttl_s, config.max_conversations)

    def __len__(self) -> int:
        with self._lock:
            self._expire(self._clock())
            return len(self._open)

    def hold(self, result: ParseResult) -> ParseResult:
        """Keep the incomplete `result` for its follow-up; it comes back with its new id. Of
        several calls only the waiting one is kept: the others are complete and acted on now."""
        conversation_id = secrets.token_urlsafe(16)
        with self._lock:
            now = self._clock()
            self._expire(now)
            waiting = result.waiting
            kept = result.only(waiting) if waiting is not None else result
            self._open[conversation_id] = (now + self.ttl_s, replace(kept, conversation_id=None))
            while len(self._open) > self.max_open:
                self._open.popitem(last=False)
        return replace(result, conversation_id=conversation_id)

    def take(self, conversation_id: str) -> ParseResult:
        """The call waiting under `conversation_id`, removed (a question is answered once);
        ConversationExpired (410) when there is none."""
        with self._lock:
            self._expire(self._clock())
            held = self._open.pop(conversation_id, None)
        if held is None:
            raise ConversationExpired(
                f"conversation {conversation_id[:40]!r} has expired (after "
                f"{self.ttl_s:g} s, runtime.conversation_ttl_s) or never existed; say the whole "
                "request again, without conversation_id"
            )
        return held[1]

    def turn(
        self,
        parser: Parser,
        text: str,
        *,
        conversation_id: str | None = None,
        timezone: str | None = None,
        now: datetime | None = None,
        cancel: threading.Event | None = None,
    ) -> ParseResult:
        """One request: a new one parsed by `parser`, or, with `conversation_id`, the answer to
        that conversation's question; an answer still incomplete is held for the next turn."""
        if conversation_id is None:
            result = parser.parse(text, timezone=timezone, now=now, cancel=cancel)
        else:
            pending = self.take(conversation_id)
            result = parser.follow_up(pending, text, timezone=timezone, now=now)
        return self.hold(result) if result.waiting is not None else result

    def _expire(self, now: float) -> None:
        """Drop what has outlived its time (held in order, so the expired come first)."""
        while self._open:
            first = next(iter(self._open))
            if self._open[first][0] > now:
                break
            del self._open[first]


def replay(
    parser: Parser,
    turns: Sequence[tuple[str | None, str]],
    *,
    cancel: threading.Event | None = None,
) -> ParseResult:
    """The answer to the last of `turns`, a conversation whose history the client keeps (an
    OpenAI chat): `[(None, request), (question asked, answer), ...]`. The request is parsed
    again (greedy: the same calls) and each answer completes its first incomplete call while
    that call asks that very question; when it does not, the last text is parsed as a new
    request. The other calls of the request are kept as they are."""
    result = parser.parse(turns[0][1], cancel=cancel)
    for question, answer in turns[1:]:
        index = next((i for i, c in enumerate(result.calls) if c.missing), None)
        if question is None or index is None or result.calls[index].question != question:
            return parser.parse(turns[-1][1], cancel=cancel)
        waiting = result.only(result.calls[index])
        filled = parser.follow_up(waiting, answer, timezone=result.timezone)
        result = result.with_call(index, filled.calls[0])
    return result
