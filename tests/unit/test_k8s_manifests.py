"""deploy/k8s renders (kustomize, as built into kubectl) to objects valid against Kubernetes' schemas, that run what
the services need: each on its default port, ready on /readyz, within the partitions, with the secrets it refers to."""
import base64
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from shared.settings import DEFAULT_PORTS, SERVICES, ServiceSettings

K8S = Path(__file__).parents[2] / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir())
KUBERNETES = "1.30"  # the oldest version still supported by the large managed offerings

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (with kustomize) is not installed")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Each overlay built from a copy of deploy/k8s whose secrets.env holds the keys of secrets.env.example."""
    tree = tmp_path_factory.mktemp("k8s") / "k8s"
    shutil.copytree(K8S, tree, ignore=shutil.ignore_patterns("secrets.env"))
    out = {}
    for overlay in OVERLAYS:
        example = (tree / "overlays" / overlay / "secrets.env.example").read_text()
        keys = [line.split("=", 1)[0] for line in example.splitlines() if "=" in line and not line.startswith("#")]
        values = {key: f"test-{key.lower()}-9x" for key in keys}
        values["NCE_DATABASE_URL"] = "postgresql://nce:test-9x@db.example:5432/nce?sslmode=require"
        values["NCE_COMMAND_KEYS"] = json.dumps({"crm-sync": "test-command-key-of-32-characters-9x"})
        (tree / "overlays" / overlay / "secrets.env").write_text("".join(f"{k}={v}\n" for k, v in values.items()))
        build = subprocess.run(["kubectl", "kustomize", str(tree / "overlays" / overlay)],
                               capture_output=True, text=True, timeout=60)
        assert build.returncode == 0, build.stderr
        out[overlay] = [doc for doc in yaml.safe_load_all(build.stdout) if doc]
    return out


def find(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and name in (None, o["metadata"]["name"])]


def the(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    [found] = find(objects, kind, name)
    return found


def pod_env(objects: list[dict[str, Any]]) -> dict[str, str]:
    """What a service container sees through envFrom: the ConfigMap's data and the Secret's decoded data."""
    [config] = find(objects, "ConfigMap")
    [secret] = find(objects, "Secret")
    return config["data"] | {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_against_the_kubernetes_schema(rendered: dict, overlay: str) -> None:  # type: ignore[type-arg]
    for obj in rendered[overlay]:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)  # raises on an unknown or mistyped field


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_each_service_has_a_deployment_on_its_port_ready_on_readyz_and_a_service(rendered: dict, overlay: str) -> None:  # type: ignore[type-arg]
    objects = rendered[overlay]
    for name in SERVICES:
        pod = the(objects, "Deployment", name)["spec"]["template"]
        [container] = pod["spec"]["containers"]
        assert container["args"] == ["run", name]
        assert container["ports"] == [{"name": "http", "containerPort": DEFAULT_PORTS[name]}]
        assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
        assert set(container["resources"]) == {"requests", "limits"}
        assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(DEFAULT_PORTS[name])
        service = the(objects, "Service", name)["spec"]  # the gateway's default URL: http://NAME:PORT
        assert service["ports"][0]["port"] == DEFAULT_PORTS[name]
        assert service["selector"].items() <= pod["metadata"]["labels"].items()


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_service_has_more_replicas_than_partitions(rendered: dict, overlay: str) -> None:  # type: ignore[type-arg]
    partitions = int(pod_env(rendered[overlay])["NCE_KAFKA_PARTITIONS"])
    for name in SERVICES:
        assert the(rendered[overlay], "Deployment", name)["spec"]["replicas"] <= partitions, name


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_config_map_and_secret_referred_to_exists_with_the_keys_referred_to(rendered: dict, overlay: str) -> None:  # type: ignore[type-arg]
    objects = rendered[overlay]
    data = {(o["kind"], o["metadata"]["name"]): o.get("data", {}) for o in objects if o["kind"] in ("ConfigMap", "Secret")}
    for workload in find(objects, "Deployment") + find(objects, "Job"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            for source in container.get("envFrom", []):
                kind = "ConfigMap" if "configMapRef" in source else "Secret"
                assert (kind, (source.get("configMapRef") or source["secretRef"])["name"]) in data
            for var in container.get("env", []):
                for kind, ref in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if ref in var.get("valueFrom", {}):
                        key = var["valueFrom"][ref]
                        assert key["key"] in data.get((kind, key["name"]), {}), (workload["metadata"]["name"], key)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_the_services_settings_validate_from_the_config_map_and_secret(rendered: dict, overlay: str,  # type: ignore[type-arg]
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in pod_env(rendered[overlay]).items():
        monkeypatch.setenv(key, value)
    for name in SERVICES:
        ServiceSettings(service=name)
    assert "NCE_OPERATOR_TOKEN" in pod_env(rendered[overlay])


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_topics_are_created_by_a_job_and_the_gateway_serving_the_dashboard_checks_tokens(rendered: dict, overlay: str) -> None:  # type: ignore[type-arg]
    objects = rendered[overlay]
    assert the(objects, "Job", "nce-topics")["spec"]["template"]["spec"]["containers"][0]["args"] == ["topics"]
    [gateway] = the(objects, "Deployment", "gateway")["spec"]["template"]["spec"]["containers"]
    assert gateway["args"][0] == "gateway"
    [token] = [e for e in gateway["env"] if e["name"] == "NCE_OPERATOR_TOKEN"]
    ref = token["valueFrom"]["secretKeyRef"]  # kustomize suffixes the generated Secret's name with its hash
    assert ref["key"] == "NCE_OPERATOR_TOKEN" and ref["name"].startswith("nce-secrets")


def test_the_managed_overlay_reaches_kafka_over_sasl_ssl_with_replicated_topics(rendered: dict) -> None:  # type: ignore[type-arg]
    env = pod_env(rendered["managed"])
    assert env["NCE_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL" and env["NCE_KAFKA_SASL_MECHANISM"].startswith("SCRAM")
    assert {"NCE_KAFKA_SASL_USERNAME", "NCE_KAFKA_SASL_PASSWORD"} <= env.keys()
    assert int(env["NCE_KAFKA_REPLICATION_FACTOR"]) >= 3
    example = (K8S / "overlays" / "managed" / "secrets.env.example").read_text()
    assert "sslmode=require" in example or "sslmode=verify-full" in example
