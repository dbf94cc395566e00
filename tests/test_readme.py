"""README.md cannot rot: its shell examples run, its YAML examples load, its links resolve.

A ```bash block runs as written, in a fresh folder holding the YAML files the README showed
before it (a block whose first line is `# NAME.yaml`) and a link to the repository's data/.
A block that needs a built model or a server says so on the line above it:
`<!-- test_readme: skip, REASON -->`; it is reported as skipped with that reason.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
BIN = Path(sys.executable).parent
BLOCK = re.compile(
    r"(?:<!-- test_readme: skip, (?P<skip>[^>]*?) -->\n)?```(?P<lang>\w*)\n(?P<code>.*?)```", re.S
)


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    skip: str | None
    line: int


BLOCKS = [
    Block(m["lang"], m["code"], m["skip"], README.count("\n", 0, m.start("code")) + 1)
    for m in BLOCK.finditer(README)
]
SHELL = [b for b in BLOCKS if b.lang == "bash"]


def yaml_files_before(line: int) -> dict[str, str]:
    """The YAML files the README shows above `line`, by name (a later one replaces an earlier)."""
    files = {}
    for block in BLOCKS:
        name = re.match(r"# (\S+\.yaml)\n", block.code)
        if block.lang == "yaml" and name and block.line < line:
            files[name[1]] = block.code
    return files


def run_in(folder: Path, script: str, extra_env: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTENTFORGE_", "TODOIST_"))}
    env |= {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "COLUMNS": "200"}
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=folder,
        env=env | (extra_env or {}),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"{script}\n{result.stdout}\n{result.stderr}"
    return result.stdout + result.stderr  # the CLI's rich console writes to stderr


def folder_for(tmp_path: Path, line: int) -> Path:
    for name, text in yaml_files_before(line).items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "data").symlink_to(ROOT / "data")
    return tmp_path


def test_readme_is_short_and_starts_with_the_two_commands() -> None:
    lines = README.splitlines()
    assert len(lines) <= 150
    first_screen = "\n".join(lines[:40])
    assert "make run" in first_screen and "make test" in first_screen


@pytest.mark.parametrize("block", SHELL, ids=[f"line{b.line}" for b in SHELL])
def test_shell_example_runs(block: Block, tmp_path: Path) -> None:
    if block.skip:
        pytest.skip(f"README line {block.line}: {block.skip}")
    run_in(folder_for(tmp_path, block.line), block.code)


def test_most_shell_examples_run_here() -> None:
    """Skipping is for what needs a model or a server, not a way to silence an example."""
    assert sum(b.skip is None for b in SHELL) >= 2


def test_readme_config_and_catalogue_examples_take_effect(tmp_path: Path) -> None:
    folder = folder_for(tmp_path, line=len(README.splitlines()) + 1)
    assert "set_thermostat" in run_in(folder, "intentforge intents")
    assert "timezone: Europe/London" in run_in(folder, "intentforge config show")
    from_env = run_in(folder, "intentforge config show", {"INTENTFORGE_RUNTIME__TIMEZONE": "UTC"})
    assert "timezone: UTC" in from_env


def test_every_verb_in_the_command_table_exists() -> None:
    verbs = {
        v
        for cell in re.findall(r"^\| `intentforge ([^`]+)`", README, re.M)
        for v in re.split(r"[/ ]", cell)
    }
    help_text = run_in(ROOT, "intentforge --help") + run_in(ROOT, "intentforge data --help")
    for verb in verbs:
        assert re.search(rf"│ {re.escape(verb)}\s", help_text), verb


LINKS = sorted({t for t in re.findall(r"\]\(([^)#]+)\)", README) if "://" not in t})


@pytest.mark.parametrize("target", LINKS)
def test_every_link_resolves(target: str) -> None:
    assert (ROOT / target).exists(), target
