"""Upload a model and its manifest to an artifact store: S3 (or S3-compatible) or any HTTP(S) PUT.

The counterpart of `intentforge.export.fetch`: publish puts `<model>.gguf` and `<model>.gguf.json`
side by side; a deployment fetches the first and checks it against the sha256 in the second. The
model goes first and the manifest last, so a manifest in the store always means a complete upload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from intentforge.errors import IntentforgeError, UpstreamError
from intentforge.export.manifest import ModelManifest, manifest_path, verify_manifest

CHUNK_BYTES = 1 << 20

Progress = Callable[[int, int], None]
"""Called with (bytes uploaded so far, total bytes of model and manifest)."""


@dataclass(frozen=True)
class Published:
    """Where a model went and how a deployment fetches it."""

    model_url: str
    manifest_url: str
    manifest: ModelManifest


def destination_urls(model: Path, to: str, manifest_to: str | None = None) -> tuple[str, str]:
    """The model's and manifest's URLs for destination `to`.

    `to` ending in `/` is a folder (the model keeps its file name); otherwise it names the object.
    The manifest goes to the model's URL plus `.json` unless `manifest_to` says otherwise; a URL
    with a query string (a presigned PUT URL signs one object only) needs `manifest_to`.
    """
    parts = urlsplit(to)
    if parts.scheme not in ("s3", "http", "https") or not parts.netloc:
        raise IntentforgeError(
            f"unsupported destination {_redact(to)}: use s3://bucket/key or https://host/path"
        )
    path = parts.path + model.name if parts.path.endswith("/") or not parts.path else parts.path
    if parts.scheme == "s3" and not path.lstrip("/"):
        raise IntentforgeError(f"S3 destination {to} needs a key: s3://bucket/key")
    model_url = urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))
    if manifest_to is not None:
        return model_url, manifest_to
    if parts.query:
        raise IntentforgeError(
            "a destination with a query string (presigned URL) signs one object: "
            "pass --manifest-to with the manifest's own URL"
        )
    return model_url, urlunsplit((parts.scheme, parts.netloc, path + ".json", "", ""))


def publish(
    model: Path,
    to: str,
    *,
    manifest_to: str | None = None,
    endpoint_url: str | None = None,
    timeout_s: float = 60.0,
    progress: Progress | None = None,
) -> Published:
    """Verify `model` against its manifest, then upload both to `to` (s3:// or http(s)://).

    `endpoint_url` points boto3 at an S3-compatible store (MinIO, R2, a local test server).
    """
    manifest = verify_manifest(model)
    manifest_file = manifest_path(model)
    model_url, manifest_url = destination_urls(model, to, manifest_to)
    total = manifest.size_bytes + manifest_file.stat().st_size
    sent = 0

    def advance(n: int) -> None:
        nonlocal sent
        sent += n
        if progress is not None:
            progress(sent, total)

    for path, url, content_type in (
        (model, model_url, "application/octet-stream"),
        (manifest_file, manifest_url, "application/json"),
    ):
        if url.startswith("s3://"):
            _put_s3(path, url, content_type, manifest.sha256, endpoint_url, timeout_s, advance)
        else:
            _put_http(path, url, content_type, timeout_s, advance)
    return Published(model_url=model_url, manifest_url=manifest_url, manifest=manifest)


def _put_s3(
    path: Path,
    url: str,
    content_type: str,
    model_sha256: str,
    endpoint_url: str | None,
    timeout_s: float,
    advance: Callable[[int], None],
) -> None:
    import boto3
    from boto3.exceptions import S3UploadFailedError
    from boto3.s3.transfer import TransferConfig
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    bucket, _, key = url.removeprefix("s3://").partition("/")
    config = Config(connect_timeout=timeout_s, read_timeout=timeout_s)
    client = boto3.client("s3", endpoint_url=endpoint_url, config=config)
    extra: dict[str, Any] = {
        "ContentType": content_type,
        # The sha256 the manifest promises, readable with `aws s3api head-object`.
        "Metadata": {"intentforge-model-sha256": model_sha256},
    }
    try:
        client.upload_file(
            str(path),
            bucket,
            key,
            ExtraArgs=extra,
            Callback=advance,
            Config=TransferConfig(multipart_threshold=64 * CHUNK_BYTES),
        )
        head = client.head_object(Bucket=bucket, Key=key)
    except NoCredentialsError:
        raise IntentforgeError(
            "no AWS credentials: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise UpstreamError(
            f"S3 refused {url}: {error.get('Code', '?')} {error.get('Message', '')}".rstrip()
        ) from None
    except (S3UploadFailedError, BotoCoreError, OSError) as exc:
        raise UpstreamError(f"upload to {url} failed: {exc}") from None
    if head.get("ContentLength") != path.stat().st_size:
        raise UpstreamError(
            f"{url} holds {head.get('ContentLength')} bytes after upload, not the file's"
        )


def _put_http(
    path: Path, url: str, content_type: str, timeout_s: float, advance: Callable[[int], None]
) -> None:
    import httpx

    size = path.stat().st_size

    def body() -> Iterator[bytes]:
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield chunk
                advance(len(chunk))

    headers = {"Content-Type": content_type, "Content-Length": str(size)}
    try:
        response = httpx.put(url, content=body(), headers=headers, timeout=timeout_s)
    except httpx.HTTPError as exc:
        raise UpstreamError(f"upload to {_redact(url)} failed: {exc}") from None
    if not response.is_success:
        raise UpstreamError(
            f"{_redact(url)} answered HTTP {response.status_code} to the upload: "
            "check the URL and that the server accepts PUT"
        )


def _redact(url: str) -> str:
    """The URL without its query string: a presigned URL's signature is a credential."""
    return url.split("?", 1)[0]
