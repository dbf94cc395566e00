"""Requests generated from the live OpenAPI spec by the schemathesis CLI: never a 5xx answer."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from intentforge.config import load_settings
from intentforge.runtime import Parser
from intentforge.secrets import Secrets
from intentforge.server import create_app
from servers.api import ApiServer


@pytest.fixture(scope="module")
def live_server(smollm2_parser: Parser) -> Iterator[ApiServer]:
    app = create_app(load_settings(None, {}), Secrets(), parsers=[smollm2_parser])
    server = ApiServer(app).start()
    yield server
    server.stop()


def test_no_request_from_the_spec_gets_a_server_error(
    live_server: ApiServer, tmp_path: Path
) -> None:
    schemathesis = Path(sys.executable).parent / "schemathesis"
    done = subprocess.run(
        [
            str(schemathesis), "run", f"{live_server.url}/openapi.json",
            "--checks", "not_a_server_error",
            "--max-examples", "6",
            "--generation-deterministic",  # the same cases on every run
            "--workers", "1",
            "--request-timeout", "60",
            "--no-color",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert counts and counts.group(1) == counts.group(2) and int(counts.group(1)) > 50
