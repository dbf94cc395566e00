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


def test_run_serves_a_fresh_build_from_a_fresh_process(monkeypatch, tmp_path: Path) -> None:
    # After building in-process, `run` replaces itself with `intentforge serve` (llama.cpp used
    # from the build's thread left OpenMP threads that made the server's thread 2.5x slower).
    from intentforge.cli import build

    seen: list[list[str]] = []
    monkeypatch.setattr("os.execv", lambda exe, argv: seen.append([exe, *argv]))
    build._serve_in_a_fresh_process(tmp_path / "my.yaml", 8123, tmp_path / "m.gguf")
    exe, _, flag, code, *args = seen[0]
    assert (exe, flag) == (sys.executable, "-c")
    assert args == [
        "serve", "--model", str(tmp_path / "m.gguf"), "--log-level", "info",
        "--config", str(tmp_path / "my.yaml"), "--port", "8123",
    ]  # fmt: skip
    # The command it execs is the real CLI.
    done = subprocess.run(
        [sys.executable, "-c", code, "serve", "--help"], capture_output=True, text=True, check=True
    )
    assert "--model" in done.stdout
