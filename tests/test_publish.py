"""`intentforge publish`: model + manifest to a local HTTP store and a local S3 server, and back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from intentforge.errors import IntentforgeError, UpstreamError
from intentforge.export.fetch import fetch
from intentforge.export.manifest import manifest_path, write_manifest
from intentforge.export.publish import destination_urls, publish
from servers.model_store import ModelStore, S3Store

CLI = [sys.executable, "-c", "from intentforge.cli import main; main()"]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "intents.q4_k_m.gguf"
    path.write_bytes(b"GGUF" + bytes(range(256)) * 8192)  # 2 MiB
    write_manifest(path, quantization="q4_k_m", base="smollm2-135m", eval_summary={"acc": 0.9})
    return path


@pytest.mark.parametrize(
    ("to", "model_url", "manifest_url"),
    [
        ("s3://b/models/", "s3://b/models/m.gguf", "s3://b/models/m.gguf.json"),
        ("s3://b/x/v1.gguf", "s3://b/x/v1.gguf", "s3://b/x/v1.gguf.json"),
        ("s3://b", "s3://b/m.gguf", "s3://b/m.gguf.json"),
        ("https://h:8443/a/", "https://h:8443/a/m.gguf", "https://h:8443/a/m.gguf.json"),
    ],
)
def test_destination_names_model_and_manifest(to: str, model_url: str, manifest_url: str) -> None:
    assert destination_urls(Path("m.gguf"), to) == (model_url, manifest_url)


def test_presigned_destination_needs_its_own_manifest_url() -> None:
    signed = "https://h/a/m.gguf?X-Amz-Signature=abc"
    with pytest.raises(IntentforgeError, match="--manifest-to"):
        destination_urls(Path("m.gguf"), signed)
    assert destination_urls(Path("m.gguf"), signed, "https://h/a/m.json?sig=d") == (
        signed,
        "https://h/a/m.json?sig=d",
    )


@pytest.mark.parametrize("to", ["ftp://h/x", "/local/path", "s3:///key"])
def test_unsupported_destination_is_refused(to: str) -> None:
    with pytest.raises(IntentforgeError, match="unsupported destination"):
        destination_urls(Path("m.gguf"), to)


def test_http_put_uploads_model_then_manifest(model_store: ModelStore, model: Path) -> None:
    progress: list[tuple[int, int]] = []
    published = publish(
        model, model_store.url + "/models/", progress=lambda d, t: progress.append((d, t))
    )
    assert published.model_url == model_store.url + "/models/intents.q4_k_m.gguf"
    assert model_store.files["/models/intents.q4_k_m.gguf"] == model.read_bytes()
    stored = json.loads(model_store.files["/models/intents.q4_k_m.gguf.json"])
    assert stored == json.loads(manifest_path(model).read_text())
    assert [s.path for s in model_store.seen] == [
        "/models/intents.q4_k_m.gguf",
        "/models/intents.q4_k_m.gguf.json",
    ]
    total = model.stat().st_size + manifest_path(model).stat().st_size
    assert progress[-1] == (total, total)


def test_published_model_is_what_the_init_container_fetches(
    model_store: ModelStore, model: Path, tmp_path: Path
) -> None:
    published = publish(model, model_store.url + "/m/v1.gguf")
    dest = fetch(published.model_url, published.manifest.sha256, tmp_path / "pod" / "model.gguf")
    assert dest.read_bytes() == model.read_bytes()


def test_refused_upload_is_an_upstream_error(model_store: ModelStore, model: Path) -> None:
    model_store.put_status = 403
    with pytest.raises(UpstreamError, match="HTTP 403"):
        publish(model, model_store.url + "/models/")
    assert len(model_store.seen) == 1  # the manifest is not sent after a failed model upload


def test_model_that_differs_from_its_manifest_is_not_uploaded(
    model_store: ModelStore, model: Path
) -> None:
    model.write_bytes(model.read_bytes() + b"!")
    with pytest.raises(IntentforgeError, match="does not match its manifest"):
        publish(model, model_store.url + "/models/")
    assert model_store.seen == []


def test_s3_upload_with_metadata_then_fetch_round_trip(
    s3_store: S3Store, model: Path, tmp_path: Path
) -> None:
    published = publish(
        model, f"s3://{s3_store.bucket}/intentforge/", endpoint_url=s3_store.endpoint_url
    )
    key = "intentforge/intents.q4_k_m.gguf"
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=key)
    assert head["ContentLength"] == model.stat().st_size
    assert head["Metadata"]["intentforge-model-sha256"] == published.manifest.sha256
    manifest = s3_store.client.get_object(Bucket=s3_store.bucket, Key=key + ".json")
    assert json.loads(manifest["Body"].read())["sha256"] == published.manifest.sha256
    dest = fetch(published.model_url, published.manifest.sha256, tmp_path / "pod" / "model.gguf")
    assert dest.read_bytes() == model.read_bytes()


def test_s3_missing_bucket_is_an_upstream_error(s3_store: S3Store, model: Path) -> None:
    with pytest.raises(UpstreamError, match="NoSuchBucket"):
        publish(model, "s3://no-such-bucket-here/m/", endpoint_url=s3_store.endpoint_url)


def test_cli_prints_what_the_deployment_needs(model_store: ModelStore, model: Path) -> None:
    result = subprocess.run(
        [*CLI, "publish", str(model), "--to", model_store.url + "/models/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    sha256 = json.loads(manifest_path(model).read_text())["sha256"]
    assert result.stdout.splitlines() == [
        f"MODEL_URL={model_store.url}/models/intents.q4_k_m.gguf",
        f"MODEL_SHA256={sha256}",
    ]


def test_cli_without_manifest_exits_2_with_one_line(
    model_store: ModelStore, tmp_path: Path
) -> None:
    bare = tmp_path / "bare.gguf"
    bare.write_bytes(b"GGUF")
    result = subprocess.run(
        [*CLI, "publish", str(bare), "--to", model_store.url + "/models/"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1].startswith("error: no manifest")
    assert "Traceback" not in result.stderr
    assert model_store.seen == []
