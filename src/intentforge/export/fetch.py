"""Download a model and verify its sha256 before anything may use it (the init container's job).

`fetch(url, sha256, dest)` (the command `intentforge fetch URL SHA256 DEST`) gets an HTTP(S) URL
(an S3 presigned URL is one) with the standard library alone; `s3://bucket/key` URLs use boto3
and its usual credential chain (IRSA or EKS Pod Identity on EKS, AWS_* variables,
AWS_ENDPOINT_URL for other S3 stores). A 429 or 5xx is retried after the server's Retry-After
when it gives a usable one, else after the usual backoff.

The bytes land in a hidden temporary file beside DEST; a dropped connection resumes with a Range
request; only a file whose sha256 matches is renamed to DEST (atomically, same directory). On any
failure the temporary file is removed and DEST is left untouched, so a half-written or tampered
model can never be served.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from intentforge.digest import sha256_file
from intentforge.errors import IntentforgeError, UpstreamError
from intentforge.retry import Retries, Transient, retry_after_s, with_retries

_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_CONTENT_RANGE_RE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
CHUNK_BYTES = 1 << 20
# An init container may wait a while for a busy store, but not forever.
_MAX_RETRY_AFTER_S = 60.0

Progress = Callable[[int, int | None], None]
"""Called with (bytes so far, total bytes or None when the server does not say)."""


class _Body(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...
    def close(self) -> None: ...


class _Interrupted(Exception):
    """The body stopped early: worth another try from where it stopped."""


def fetch(
    url: str,
    sha256: str,
    dest: Path,
    *,
    retries: int = 5,
    timeout_s: float = 30.0,
    backoff_s: float = 1.0,
    progress: Progress | None = None,
) -> Path:
    """Download `url` to `dest` and return `dest`, only if its sha256 equals `sha256`.

    Already-present `dest` with the right sha256 is kept (a restarted pod does not download again).
    A connection that drops is retried up to `retries` times, resuming with a Range request; a
    try that got further than the one before earns a fresh budget.
    """
    expected = sha256.strip().lower()
    if not _SHA256_RE.match(expected):
        raise IntentforgeError(
            f"sha256 must be 64 hex characters, got {sha256!r}: copy it from the model's manifest"
        )
    if dest.is_file() and sha256_file(dest) == expected:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}.part")
    try:
        with part.open("wb") as out:
            download = _Download(url, out, timeout_s, progress)
            with_retries(
                download.attempt,
                Retries(retries, backoff_s, max_retry_after_s=_MAX_RETRY_AFTER_S),
                service=f"download of {_redact(url)}",
                give_up=lambda reason: UpstreamError(
                    f"download of {_redact(url)} failed after {retries} retries: {reason}"
                ),
            )
            out.flush()
            os.fsync(out.fileno())
        actual = download.digest.hexdigest()
        if actual != expected:
            raise IntentforgeError(
                f"sha256 mismatch for {_redact(url)}: expected {expected}, got {actual}; "
                "the file is corrupt or not the one the manifest describes, so it was deleted"
            )
        part.chmod(0o644)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


class _Download:
    """The bytes received so far into `out`, and one try at getting the rest."""

    def __init__(self, url: str, out: BinaryIO, timeout_s: float, progress: Progress | None):
        self.url = url
        self.out = out
        self.timeout_s = timeout_s
        self.progress = progress
        self.digest = hashlib.sha256()
        self.received = 0

    def attempt(self) -> None:
        """Fetch from where the last try stopped; `Transient` when the body stops early."""
        before = self.received
        try:
            self._resume()
        except urllib.error.HTTPError as exc:
            headers = {k.lower(): v for k, v in exc.headers.items()}
            raise Transient(
                f"HTTP {exc.code} {exc.reason}",
                retry_after_s(headers),
                progressed=self.received > before,
            ) from None
        except (_Interrupted, OSError, http.client.HTTPException) as exc:
            raise Transient(str(exc), progressed=self.received > before) from None

    def _resume(self) -> None:
        body, start, total = _open(self.url, self.received, self.timeout_s)
        if start != self.received:
            # The server ignored our Range: start over rather than splice two bodies.
            self.out.seek(0)
            self.out.truncate()
            self.digest = hashlib.sha256()
            self.received = 0
            if start != 0:
                body.close()
                body, start, total = _open(self.url, 0, self.timeout_s)
                if start != 0:
                    body.close()
                    raise _Interrupted(f"the server answered from byte {start}, not 0")
        with closing(body):
            for chunk in _read_chunks(body):
                self.out.write(chunk)
                self.digest.update(chunk)
                self.received += len(chunk)
                if self.progress is not None:
                    self.progress(self.received, total)
        if total is not None and self.received < total:
            raise _Interrupted(f"connection closed after {self.received} of {total} bytes")


def _open(url: str, offset: int, timeout_s: float) -> tuple[_Body, int, int | None]:
    """Open the body at byte `offset`; return it, the offset it really starts at, and the total."""
    if url.startswith("s3://"):
        return _open_s3(url, offset, timeout_s)
    if not url.startswith(("http://", "https://")):
        raise IntentforgeError(f"unsupported model URL {_redact(url)}: use http(s):// or s3://")
    request = urllib.request.Request(url, headers={"User-Agent": "intentforge-fetch"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as exc:
        if 400 <= exc.code < 500 and exc.code not in (408, 429):
            # Missing, forbidden or expired presigned URL: retrying cannot help.
            raise IntentforgeError(
                f"{_redact(url)} answered HTTP {exc.code} {exc.reason}: check the URL "
                "(a presigned URL expires)"
            ) from None
        raise
    length = response.headers.get("Content-Length")
    if response.status == 206:
        match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
        if match is None:
            response.close()
            raise _Interrupted("partial response without a usable Content-Range")
        start, size = int(match.group(1)), match.group(3)
        return response, start, int(size) if size != "*" else None
    return response, 0, int(length) if length is not None else None


def _open_s3(url: str, offset: int, timeout_s: float) -> tuple[_Body, int, int | None]:
    try:
        import boto3
        from botocore.config import Config
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise IntentforgeError("s3:// URLs need boto3: pip install boto3") from None
    bucket, _, key = url.removeprefix("s3://").partition("/")
    if not bucket or not key:
        raise IntentforgeError(f"S3 URL {url} must look like s3://bucket/key")
    config = Config(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 1})
    extra: dict[str, Any] = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = boto3.client("s3", config=config).get_object(Bucket=bucket, Key=key, **extra)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise IntentforgeError(
            f"S3 refused {url}: {code}; check the key and the credentials"
        ) from None
    except BotoCoreError as exc:
        raise OSError(str(exc)) from None
    total = None
    start = 0
    match = _CONTENT_RANGE_RE.match(response.get("ContentRange", "") or "")
    if match is not None:
        start, total = int(match.group(1)), int(match.group(3))
    elif "ContentLength" in response:
        total = int(response["ContentLength"])
    return _BotoBody(response["Body"]), start, total


class _BotoBody:
    """A botocore StreamingBody whose read errors are OSError, so that they are retried."""

    def __init__(self, body: Any) -> None:
        self._body = body

    def read(self, size: int = -1) -> bytes:
        from botocore.exceptions import BotoCoreError

        try:
            data: bytes = self._body.read(size)
        except BotoCoreError as exc:
            raise OSError(str(exc)) from None
        return data

    def close(self) -> None:
        self._body.close()


def _read_chunks(body: _Body) -> Iterator[bytes]:
    # read1 returns what has arrived; read(n) would block until n bytes, hiding progress.
    read = getattr(body, "read1", body.read)
    while True:
        try:
            chunk = read(CHUNK_BYTES)
        except http.client.IncompleteRead as exc:
            if exc.partial:
                yield exc.partial
            raise _Interrupted("connection closed mid-body") from None
        if not chunk:
            return
        yield chunk


def _redact(url: str) -> str:
    """The URL without its query string: a presigned URL's signature is a credential."""
    return url.split("?", 1)[0]
