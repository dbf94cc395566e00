"""The CLI shell: user errors are one line and exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

CLI = [sys.executable, "-c", "from intentforge.cli import main; main()"]


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.mark.parametrize(
    "args",
    [
        ("data", "generate", "--rows", "abc"),
        ("no-such-command",),
        ("build", "--config", "missing.yaml"),
    ],
)
def test_user_errors_exit_2_without_traceback(args: tuple[str, ...], tmp_path: Path) -> None:
    result = _run(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip()


def test_intents_lists_the_catalogue(tmp_path: Path) -> None:
    result = _run("intents", cwd=tmp_path)
    assert result.returncode == 0
    for name in ("add_task", "get_weather", "send_email", "none"):
        assert name in result.stderr + result.stdout
