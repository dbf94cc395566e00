"""deploy/README.md cannot rot: its paths exist, its options and build arguments are real, and the
kustomizations it applies render."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "deploy" / "README.md").read_text()
CODE = "\n".join(re.findall(r"```bash\n(.*?)```", README, re.DOTALL))
BIN = Path(sys.executable).parent


def test_readme_has_the_commands_the_issue_asks_for() -> None:
    for command in (
        "docker build -f deploy/docker/Dockerfile",
        "docker buildx build -f deploy/docker/Dockerfile",
        "--platform linux/amd64,linux/arm64",
        "docker compose -f deploy/compose.yaml up",
        "kubectl apply -k deploy/k8s/overlays/eks",
        "eksctl create cluster -f deploy/k8s/overlays/eks/cluster.yaml",
        "intentforge publish",
    ):
        assert command in CODE, command


# Named in the README but not files of the repository: the user's own secrets file, and a kubectl
# resource reference (deploy/NAME).
NOT_PATHS = {"deploy/.env", "deploy/intentforge"}


@pytest.mark.parametrize(
    "path",
    sorted(set(re.findall(r"(?<![\w/.-])((?:deploy|src|tests)/[\w./-]*\w)", README)) - NOT_PATHS),
)
def test_every_repository_path_in_the_readme_exists(path: str) -> None:
    assert (ROOT / path).exists(), path


def test_build_args_in_the_readme_are_dockerfile_args() -> None:
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    declared = set(re.findall(r"^ARG (\w+)", dockerfile, re.MULTILINE))
    used = set(re.findall(r"--build-arg (\w+)=", CODE))
    assert used and used <= declared


def test_publish_options_in_the_readme_exist() -> None:
    help_text = subprocess.run(
        [sys.executable, "-c", "from intentforge.cli import main; main()", "publish", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"},
    ).stdout
    lines = [line for line in CODE.splitlines() if line.startswith("intentforge publish")]
    assert lines
    for line in lines:
        for option in re.findall(r"\s(--[\w-]+)", line):
            assert option in help_text, option


@pytest.mark.parametrize("directory", sorted(set(re.findall(r"apply -k (\S+)", CODE))))
def test_kustomizations_the_readme_applies_render(directory: str) -> None:
    result = subprocess.run(
        [str(BIN / "kubectl"), "kustomize", str(ROOT / directory)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "kind: Deployment" in result.stdout
