"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

# Actions (issue 6): local servers that speak the Todoist, Open-Meteo and SMTP protocols.
from servers.open_meteo import OpenMeteoServer
from servers.smtp import SmtpServer
from servers.todoist import TodoistServer

TODOIST_TEST_TOKEN = "todoist-test-token-0123456789"  # a fake, for the local server only
SMTP_TEST_USER = "me@example.com"
SMTP_TEST_PASSWORD = "app-password-abcd-efgh"


@pytest.fixture
def todoist_server() -> Iterator[TodoistServer]:
    server = TodoistServer(TODOIST_TEST_TOKEN, projects=["Work", "Shopping", "Errands"]).start()
    yield server
    server.stop()


@pytest.fixture
def open_meteo_server() -> Iterator[OpenMeteoServer]:
    server = OpenMeteoServer(today=datetime.now(UTC).date()).start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(tmp_path: Path) -> Iterator[SmtpServer]:
    server = SmtpServer(tmp_path, SMTP_TEST_USER, SMTP_TEST_PASSWORD).start()
    yield server
    server.stop()
