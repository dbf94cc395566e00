"""The init container's download-and-verify, against real HTTP and S3 servers on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from intentforge.errors import IntentforgeError, UpstreamError
from intentforge.export.fetch import fetch
from servers.local_http import LocalHTTPServer, Reply
from servers.model_store import ModelStore, S3Store

MODEL = bytes(range(256)) * 4096 + b"tail"  # 1 MiB + 4 bytes: several chunks, not chunk-aligned
MODEL_SHA256 = hashlib.sha256(MODEL).hexdigest()


def _serve(store: ModelStore, body: bytes = MODEL) -> str:
    store.files["/models/model.gguf"] = body
    return store.url + "/models/model.gguf"


# `intentforge fetch`, the init container's command, from this environment.
FETCH_COMMAND = [str(Path(sys.executable).with_name("intentforge")), "fetch"]


def _fetch_command(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*FETCH_COMMAND, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def test_good_file_is_written_verified_and_alone(model_store: ModelStore, tmp_path: Path) -> None:
    dest = tmp_path / "models" / "model.gguf"
    seen: list[tuple[int, int | None]] = []
    assert fetch(_serve(model_store), MODEL_SHA256, dest, progress=lambda d, t: seen.append((d, t)))
    assert dest.read_bytes() == MODEL
    assert [p.name for p in dest.parent.iterdir()] == ["model.gguf"]
    assert seen[-1] == (len(MODEL), len(MODEL))


def test_wrong_sha256_fails_and_leaves_nothing_behind(
    model_store: ModelStore, tmp_path: Path
) -> None:
    with pytest.raises(IntentforgeError, match="sha256 mismatch"):
        fetch(_serve(model_store), "ab" * 32, tmp_path / "model.gguf")
    assert list(tmp_path.iterdir()) == []


def test_wrong_sha256_keeps_the_previous_model_untouched(
    model_store: ModelStore, tmp_path: Path
) -> None:
    dest = tmp_path / "model.gguf"
    dest.write_bytes(b"the model that was there before")
    with pytest.raises(IntentforgeError, match="sha256 mismatch"):
        fetch(_serve(model_store, MODEL[:-1] + b"X"), MODEL_SHA256, dest)
    assert dest.read_bytes() == b"the model that was there before"
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]


def test_dropped_connection_resumes_with_range(model_store: ModelStore, tmp_path: Path) -> None:
    url = _serve(model_store)
    model_store.drop_after_bytes, model_store.drops_left = 300_000, 2
    dest = fetch(url, MODEL_SHA256, tmp_path / "model.gguf", backoff_s=0.01)
    assert dest.read_bytes() == MODEL
    ranges = [s.headers.get("Range") for s in model_store.seen]
    assert ranges == [None, "bytes=300000-", "bytes=600000-"]


def test_server_ignoring_range_restarts_from_zero(model_store: ModelStore, tmp_path: Path) -> None:
    url = _serve(model_store)
    model_store.drop_after_bytes, model_store.drops_left = 300_000, 1
    model_store.ignore_range = True
    dest = fetch(url, MODEL_SHA256, tmp_path / "model.gguf", backoff_s=0.01)
    assert dest.read_bytes() == MODEL
    assert len(model_store.seen) == 2


def test_connection_that_always_drops_fails_cleanly(
    model_store: ModelStore, tmp_path: Path
) -> None:
    url = _serve(model_store)
    model_store.drop_after_bytes, model_store.drops_left = 1000, 99
    model_store.ignore_range = True  # so no try gets further than the one before
    with pytest.raises(UpstreamError, match="failed after 2 retries"):
        fetch(url, MODEL_SHA256, tmp_path / "model.gguf", retries=2, backoff_s=0.01)
    assert list(tmp_path.iterdir()) == []
    assert len(model_store.seen) == 3


def test_a_busy_store_is_retried_after_backoff_when_its_retry_after_is_unreadable(
    tmp_path: Path,
) -> None:
    store = LocalHTTPServer().start()
    body = {"weights": list(range(1000))}  # served as JSON: the bytes are the model
    expected = json.dumps(body).encode()
    store.routes["GET", "/m.gguf"] = lambda request: Reply(200, body)
    url = store.url + "/m.gguf"
    try:
        store.fail(503, **{"Retry-After": "soon"})
        store.fail(429, **{"Retry-After": "0"})
        dest = fetch(url, hashlib.sha256(expected).hexdigest(), tmp_path / "m.gguf", backoff_s=0.01)
        assert dest.read_bytes() == expected
        assert len(store.calls("GET", "/m.gguf")) == 3
        store.fail(503, times=2, **{"Retry-After": "soon"})
        with pytest.raises(UpstreamError, match=r"failed after 1 retries: HTTP 503"):
            fetch(url, "ab" * 32, tmp_path / "x.gguf", retries=1, backoff_s=0.01)
    finally:
        store.stop()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.gguf"]


def test_missing_file_fails_at_once_without_retrying(
    model_store: ModelStore, tmp_path: Path
) -> None:
    with pytest.raises(IntentforgeError, match="HTTP 404"):
        fetch(model_store.url + "/nope.gguf", MODEL_SHA256, tmp_path / "model.gguf")
    assert len(model_store.seen) == 1
    assert list(tmp_path.iterdir()) == []


def test_verified_file_already_there_is_not_downloaded_again(
    model_store: ModelStore, tmp_path: Path
) -> None:
    dest = tmp_path / "model.gguf"
    dest.write_bytes(MODEL)
    fetch(_serve(model_store), MODEL_SHA256, dest)
    assert model_store.seen == []


def test_malformed_sha256_is_refused_before_any_download(
    model_store: ModelStore, tmp_path: Path
) -> None:
    with pytest.raises(IntentforgeError, match="64 hex characters"):
        fetch(_serve(model_store), "not-a-hash", tmp_path / "model.gguf")
    assert model_store.seen == []


def test_command_exit_codes_and_one_line_errors(model_store: ModelStore, tmp_path: Path) -> None:
    url = _serve(model_store)
    ok = _fetch_command(url, MODEL_SHA256.upper(), str(tmp_path / "ok.gguf"))
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "ok.gguf").read_bytes() == MODEL
    bad = _fetch_command(url, "cd" * 32, str(tmp_path / "bad.gguf"))
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("error: sha256 mismatch")
    assert "Traceback" not in bad.stderr
    assert not (tmp_path / "bad.gguf").exists()


def test_killed_download_never_leaves_a_model_and_a_rerun_completes(
    model_store: ModelStore, tmp_path: Path
) -> None:
    url = _serve(model_store)
    model_store.bytes_per_s = 200_000  # ~5 s for the whole file: time to kill it mid-body
    dest = tmp_path / "model.gguf"
    proc = subprocess.Popen(
        [*FETCH_COMMAND, url, MODEL_SHA256, str(dest)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    part = tmp_path / ".model.gguf.part"
    deadline = time.monotonic() + 30
    while not (part.exists() and part.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    assert part.exists() and 0 < part.stat().st_size < len(MODEL)
    assert not dest.exists()

    model_store.bytes_per_s = None
    fetch(url, MODEL_SHA256, dest)
    assert dest.read_bytes() == MODEL
    assert [p.name for p in tmp_path.iterdir()] == ["model.gguf"]


def test_s3_url_is_fetched_with_the_default_credential_chain(
    s3_store: S3Store, tmp_path: Path
) -> None:
    s3_store.client.put_object(Bucket=s3_store.bucket, Key="m/model.gguf", Body=MODEL)
    url = f"s3://{s3_store.bucket}/m/model.gguf"
    result = _fetch_command(url, MODEL_SHA256, str(tmp_path / "model.gguf"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "model.gguf").read_bytes() == MODEL
    with pytest.raises(IntentforgeError, match="NoSuchKey"):
        fetch(f"s3://{s3_store.bucket}/m/absent.gguf", MODEL_SHA256, tmp_path / "x.gguf")
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith("aws-")] == ["model.gguf"]
