"""The Kubernetes deployment (deploy/), verified as far as a machine without a cluster allows.

Real here: the Helm values against our schema, `kubectl kustomize` of each overlay, every manifest
through `kubernetes-validate --strict` (Kubernetes 1.33), the code server started the way the chart
starts it, and `K8sRunLauncher` / `construct_dagster_k8s_job` building the Jobs for our jobs from a
Postgres-backed instance. Not here: helm itself, image pull, RBAC, scheduling (see deploy/README.md).
"""

import copy
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import jsonschema
import pytest
import yaml
from dagster._core.launcher import LaunchRunContext
from dagster._core.remote_representation.external import RemoteJob
from dagster._core.test_utils import create_run_for_test
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._grpc.client import DagsterGrpcClient
from dagster_k8s import K8sRunLauncher
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.job import construct_dagster_k8s_job, get_user_defined_k8s_config
from kubernetes.client import ApiClient

from platform_assets.config.settings import sibling_database
from tests.support.netpolicy import External, Pod, can_connect, selects
from tests.support.postgres import scratch_database

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent
VALUES = DEPLOY / "helm" / "values.yaml"
VALUES_PRODUCTION = DEPLOY / "helm" / "values-production.yaml"
SCHEMA = json.loads((DEPLOY / "helm" / "values.schema.json").read_text())
OVERLAYS = ["dev", "production"]
K8S_VERSION = "1.33.0"
RELEASE, NAMESPACE, LOCATION = "dagster", "shelfcast", "shelfcast"
Manifest = dict[str, Any]


# ---------------------------------------------------------------- helpers


def merge_values(*files: Path) -> Manifest:
    """Helm's merge of several -f files: maps merge key by key, anything else is replaced."""

    def merge(base: Any, over: Any) -> Any:
        if isinstance(base, dict) and isinstance(over, dict):
            return {k: merge(base[k], v) if k in base else v for k, v in over.items()} | {
                k: v for k, v in base.items() if k not in over
            }
        return over

    merged: Manifest = {}
    for f in files:
        merged = merge(merged, yaml.safe_load(f.read_text()))
    return merged


def schema_errors(values: Manifest) -> list[str]:
    validator = jsonschema.Draft202012Validator(SCHEMA)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(values)]


def kustomize(directory: Path) -> list[Manifest]:
    out = subprocess.run(
        [BIN / "kubectl", "kustomize", str(directory)], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def k8s_validate(manifests: list[Manifest], tmp_path: Path) -> subprocess.CompletedProcess:
    """`kubernetes-validate --strict` against the 1.33 schemas: unknown fields are errors."""
    path = tmp_path / f"manifests-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump_all(manifests))
    cmd = [BIN / "kubernetes-validate", "--strict", "--quiet", "-k", K8S_VERSION, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True)


def containers(manifest: Manifest) -> list[Manifest]:
    spec = manifest.get("spec", {})
    pod = spec.get("template", {}).get("spec", {}) if "template" in spec else {}
    return pod.get("containers", [])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user_deployment(values: Manifest) -> Manifest:
    return values["dagster-user-deployments"]["deployments"][0]


def image_of(deployment: Manifest) -> str:
    return f"{deployment['image']['repository']}:{deployment['image']['tag']}"


def chart_container_context(values: Manifest) -> Manifest:
    """What the chart puts in DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT for a deployment with
    includeConfigInLaunchedRuns (our reading of the chart's k8sContainerContext helper)."""
    d = user_deployment(values)
    k8s: Manifest = {
        "image_pull_policy": d["image"]["pullPolicy"],
        "env_config_maps": [f"{RELEASE}-{d['name']}-user-env"] + [c["name"] for c in d["envConfigMaps"]],
        "env_secrets": [s["name"] for s in d["envSecrets"]],
        "namespace": NAMESPACE,
        "service_account_name": f"{RELEASE}-user-deployments",
    }
    for key, chart_key in [
        ("volumes", "volumes"),
        ("volume_mounts", "volumeMounts"),
        ("resources", "resources"),
    ]:
        if d.get(chart_key):
            k8s[key] = d[chart_key]
    return {"k8s": k8s}


def chart_run_launcher(values: Manifest, kubeconfig: Path) -> Manifest:
    """The instance's run_launcher as the chart renders it from runLauncher.config.k8sRunLauncher;
    only the kubeconfig differs (no in-cluster service account here)."""
    rl = values["runLauncher"]["config"]["k8sRunLauncher"]
    return {
        "module": "dagster_k8s",
        "class": "K8sRunLauncher",
        "config": {
            "load_incluster_config": False,
            "kubeconfig_file": str(kubeconfig),
            "job_namespace": NAMESPACE,
            "image_pull_policy": rl["imagePullPolicy"],
            "service_account_name": RELEASE,
            "dagster_home": "/opt/dagster/dagster_home",
            "instance_config_map": f"{RELEASE}-instance",
            "postgres_password_secret": values["global"]["postgresqlSecretName"],
            "env_config_maps": [f"{RELEASE}-pipeline-env"] + [c["name"] for c in rl["envConfigMaps"]],
            "env_secrets": [s["name"] for s in rl["envSecrets"]],
            "env_vars": rl["envVars"],
            "labels": rl["labels"],
            "resources": rl["resources"],
            "fail_pod_on_run_failure": rl["failPodOnRunFailure"],
            "security_context": rl["securityContext"],
            "run_k8s_config": {"pod_spec_config": rl["runK8sConfig"]["podSpecConfig"]},
        },
    }


def chart_daemon_config(values: Manifest) -> Manifest:
    """The dagster.yaml sections the chart renders from dagsterDaemon: loading an instance from them
    is Dagster's own check that our values make a valid instance."""
    daemon = values["dagsterDaemon"]
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    monitoring = daemon["runMonitoring"]
    return {
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": queued["maxConcurrentRuns"],
                "tag_concurrency_limits": queued["tagConcurrencyLimits"],
                "dequeue_interval_seconds": queued["dequeueIntervalSeconds"],
            },
        },
        "run_monitoring": {
            "enabled": monitoring["enabled"],
            "start_timeout_seconds": monitoring["startTimeoutSeconds"],
            "poll_interval_seconds": monitoring["pollIntervalSeconds"],
            "max_resume_run_attempts": monitoring["maxResumeRunAttempts"],
        },
        "run_retries": {
            "enabled": daemon["runRetries"]["enabled"],
            "max_retries": daemon["runRetries"]["maxRetries"],
        },
        "sensors": {
            "use_threads": daemon["sensors"]["useThreads"],
            "num_workers": daemon["sensors"]["numWorkers"],
        },
        "schedules": {
            "use_threads": daemon["schedules"]["useThreads"],
            "num_workers": daemon["schedules"]["numWorkers"],
        },
    }


def run_pod_problems(job: Manifest, values: Manifest, resources: Manifest) -> list[str]:
    """Everything a run or step pod needs to work in the cluster, as a list of what is missing."""
    d = user_deployment(values)
    problems = []
    pod = job["spec"]["template"]["spec"]
    container = pod["containers"][0]
    if container.get("image") != image_of(d):
        problems.append(f"image {container.get('image')!r} != {image_of(d)!r}")
    env_from = container.get("envFrom", [])
    secrets = {e["secretRef"]["name"] for e in env_from if "secretRef" in e}
    config_maps = {e["configMapRef"]["name"] for e in env_from if "configMapRef" in e}
    for s in d["envSecrets"]:
        if s["name"] not in secrets:
            problems.append(f"secret {s['name']} not in envFrom")
    for c in d["envConfigMaps"]:
        if c["name"] not in config_maps:
            problems.append(f"configmap {c['name']} not in envFrom")
    env = {e["name"]: e for e in container.get("env", [])}
    pg_ref = env.get("DAGSTER_PG_PASSWORD", {}).get("valueFrom", {}).get("secretKeyRef", {})
    if pg_ref.get("name") != values["global"]["postgresqlSecretName"]:
        problems.append(f"DAGSTER_PG_PASSWORD not from the instance secret: {pg_ref}")
    if any("value" in e and "CHANGE-ME" in str(e["value"]) for e in env.values()):
        problems.append("a literal secret value in env")
    if container.get("resources") != resources:
        problems.append(f"resources {container.get('resources')} != {resources}")
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    for m in d["volumeMounts"]:
        if mounts.get(m["name"]) != m["mountPath"]:
            problems.append(f"volume {m['name']} not mounted at {m['mountPath']}")
    labels = job["metadata"].get("labels", {})
    for key, value in values["runLauncher"]["config"]["k8sRunLauncher"]["labels"].items():
        if labels.get(key) != value:
            problems.append(f"label {key}={labels.get(key)!r}, expected {value!r}")
    if pod.get("serviceAccountName") != f"{RELEASE}-user-deployments":
        problems.append(f"serviceAccountName {pod.get('serviceAccountName')!r}")
    return problems + insecure(pod, "run pod")


def insecure(pod: Manifest, name: str, read_only: bool = False) -> list[str]:
    """What a pod spec lacks of the hardening every pod must have: non-root, default seccomp, and
    per container no privilege escalation and every capability dropped (and, where `read_only`, a
    read-only root filesystem with a writable /tmp)."""
    problems = []
    security = pod.get("securityContext", {})
    if security.get("runAsNonRoot") is not True or not security.get("runAsUser"):
        problems.append(f"{name}: not runAsNonRoot with a runAsUser: {security}")
    if security.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{name}: seccompProfile {security.get('seccompProfile')}")
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        context = c.get("securityContext", {})
        if context.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}/{c['name']}: privilege escalation not refused")
        if "ALL" not in context.get("capabilities", {}).get("drop", []):
            problems.append(f"{name}/{c['name']}: capabilities not dropped")
        if read_only and context.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}/{c['name']}: root filesystem writable")
        if read_only and "/tmp" not in {m["mountPath"] for m in c.get("volumeMounts", [])}:
            problems.append(f"{name}/{c['name']}: no writable /tmp")
    return problems


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def values() -> Manifest:
    return merge_values(VALUES)


@pytest.fixture(scope="module")
def pg_database(pg_dsn: str) -> Iterator[str]:
    """A fresh Postgres database for this module (beside the session's), dropped afterwards."""
    with scratch_database(sibling_database(pg_dsn, "deploy")) as dsn:
        yield dsn


@pytest.fixture(scope="module")
def code_server(values: Manifest, pg_database: str, tmp_path_factory) -> Iterator[int]:
    """`dagster api grpc <dagsterApiGrpcArgs>` with the env the chart gives the code server: the
    shelfcast-env ConfigMap of deploy/k8s, the warehouse DSN, DAGSTER_CURRENT_IMAGE and the container
    context. Only SHELFCAST_HOME (a temp dir) and the DSN (the test database) are local."""
    d = user_deployment(values)
    config_map = next(
        m for m in kustomize(DEPLOY / "k8s" / "base") if m["metadata"]["name"] == "shelfcast-env"
    )
    home = tmp_path_factory.mktemp("k8s-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHELFCAST_", "DAGSTER_"))}
    env |= config_map["data"] | {
        "SHELFCAST_HOME": str(home),
        "SHELFCAST_PG_DSN": pg_database,
        "DAGSTER_HOME": str(home),
        "DAGSTER_CURRENT_IMAGE": image_of(d),
        "DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT": json.dumps(chart_container_context(values)),
    }
    port = free_port()
    cmd = [
        BIN / "dagster",
        "api",
        "grpc",
        *d["dagsterApiGrpcArgs"],
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log = (home / "grpc.log").open("w")
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        client = DagsterGrpcClient(port=port, host="127.0.0.1")  # polling in-process: no CLI start-up per try
        while client.health_check_query() != "SERVING":
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"code server not healthy:\n{(home / 'grpc.log').read_text()[-3000:]}")
            time.sleep(1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


class CapturingBatchApi:
    """Stands in for kubernetes.client.BatchV1Api, the one thing that cannot exist without a
    cluster: keeps the Job the launcher would create, as the API server would receive it."""

    def __init__(self) -> None:
        self.jobs: list[Manifest] = []

    def create_namespaced_job(self, body, namespace: str, **_: Any) -> None:
        manifest = ApiClient().sanitize_for_serialization(body)
        self.jobs.append(manifest | {"metadata": manifest["metadata"] | {"namespace": namespace}})


@pytest.fixture(scope="module")
def k8s_instance(values: Manifest, pg_database: str, tmp_path_factory) -> Iterator[dg.DagsterInstance]:
    """A Dagster instance on Postgres storage with the chart's K8sRunLauncher and daemon settings; its
    BatchV1Api is the only replaced object. The kubeconfig names a server nothing listens on."""
    home = tmp_path_factory.mktemp("dagster-home")
    kubeconfig = home / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "none",
            "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
            "users": [{"name": "none", "user": {"token": "none"}}],
            "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
        })
    )  # fmt: skip
    instance_yaml = {
        "storage": {"postgres": {"postgres_url": pg_database}},
        "run_launcher": chart_run_launcher(values, kubeconfig),
        **chart_daemon_config(values),
        "telemetry": {"enabled": False},
    }
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_yaml))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        launcher = instance.run_launcher
        assert isinstance(launcher, K8sRunLauncher)
        launcher._api_client.batch_api = CapturingBatchApi()  # noqa: SLF001
        yield instance


@pytest.fixture(scope="module")
def workspace(code_server: int, k8s_instance: dg.DagsterInstance, tmp_path_factory) -> Iterator[Any]:
    """The code server loaded through a workspace.yaml `grpc_server` entry, as the webserver and
    daemon load it in the cluster."""
    path = tmp_path_factory.mktemp("workspace") / "workspace.yaml"
    entry = {"host": "127.0.0.1", "port": code_server, "location_name": LOCATION}
    path.write_text(yaml.safe_dump({"load_from": [{"grpc_server": entry}]}))
    with WorkspaceProcessContext(k8s_instance, WorkspaceFileTarget(paths=[str(path)])) as ctx:
        yield ctx.create_request_context()


def remote_job(workspace: Any, name: str) -> RemoteJob:
    location = workspace.get_code_location(LOCATION)
    return location.get_repository("__repository__").get_full_job(name)


def launch(instance: dg.DagsterInstance, workspace: Any, job_name: str) -> Manifest:
    """What the daemon does with a queued run: the K8sRunLauncher creates one Job for it."""
    job = remote_job(workspace, job_name)
    run = create_run_for_test(
        instance,
        job_name=job_name,
        remote_job_origin=job.get_remote_origin(),
        job_code_origin=job.get_python_origin(),
    )
    instance.run_launcher.launch_run(LaunchRunContext(dagster_run=run, workspace=workspace))
    return instance.run_launcher._api_client.batch_api.jobs[-1]  # noqa: SLF001


# ---------------------------------------------------------------- Helm values


@pytest.mark.parametrize("files", [[VALUES], [VALUES, VALUES_PRODUCTION]], ids=["base", "production"])
def test_values_match_our_schema(files: list[Path]) -> None:
    values = merge_values(*files)
    assert schema_errors(values) == []
    assert user_deployment(values)["dagsterApiGrpcArgs"][:2] == [
        "--module-name",
        "platform_assets.definitions",
    ]


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (["runLauncher", "type"], "K8sLauncher"),
        (["postgresql", "enabled"], True),
        (["dagsterDaemon", "runCoordinator", "config", "queuedRunCoordinator", "maxConcurrentRuns"], "ten"),
        (["runLauncher", "config", "k8sRunLauncher", "resourcez"], {}),
        (["dagsterWebserver", "securityContext", "allowPrivilegeEscalation"], True),
        (["dagsterDaemon", "podSecurityContext", "runAsNonRoot"], False),
        (["dagsterDaemon", "securityContext", "readOnlyRootFilesystem"], False),
        (["runLauncher", "config", "k8sRunLauncher", "securityContext", "capabilities"], {"drop": []}),
        (["runLauncher", "config", "k8sRunLauncher", "runK8sConfig", "podSpecConfig"], {}),
        (["dagsterWebserver", "service", "port"], 80),
        (["telemetry", "enabled"], True),
    ],
    ids=[
        "wrong-launcher",
        "bundled-postgres",
        "string-limit",
        "misspelled-key",
        "webserver-escalates",
        "daemon-as-root",
        "daemon-writable-root",
        "run-pod-capabilities",
        "run-pod-no-security",
        "webserver-privileged-port",
        "telemetry-on",
    ],  # fmt: skip
)
def test_schema_rejects_misconfigured_values(values: Manifest, path: list[str], bad: Any) -> None:
    broken = copy.deepcopy(values)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    assert schema_errors(broken), f"{'.'.join(path)}={bad!r} passed the schema"


def test_every_chart_pod_is_hardened(values: Manifest) -> None:
    """The webserver, daemon and code server pods as the chart builds them from our values: non-root,
    default seccomp, no escalation, no capabilities, read-only root with a /tmp; the webserver's
    probe on the port it listens on."""
    for name, pod, container in [
        ("webserver", values["dagsterWebserver"], values["dagsterWebserver"]),
        ("daemon", values["dagsterDaemon"], values["dagsterDaemon"]),
        ("code server", user_deployment(values), user_deployment(values)),
    ]:
        spec = {
            "securityContext": pod["podSecurityContext"],
            "containers": [{"name": name, "securityContext": container["securityContext"],
                            "volumeMounts": container["volumeMounts"]}],
        }  # fmt: skip
        assert insecure(spec, name, read_only=True) == []
    web = values["dagsterWebserver"]
    assert web["readinessProbe"]["httpGet"]["port"] == web["service"]["port"] >= 1024


def test_values_make_a_valid_instance(k8s_instance: dg.DagsterInstance, values: Manifest) -> None:
    """Dagster itself accepts the daemon settings: queued coordinator, limits, monitoring, retries."""
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    coordinator = k8s_instance.run_coordinator
    assert type(coordinator).__name__ == "QueuedRunCoordinator"
    assert coordinator.get_run_queue_config().max_concurrent_runs == queued["maxConcurrentRuns"]
    assert k8s_instance.run_monitoring_enabled
    assert k8s_instance.run_retries_enabled
    assert k8s_instance.run_retries_max_retries == values["dagsterDaemon"]["runRetries"]["maxRetries"]
    assert type(k8s_instance.run_storage).__name__ == "PostgresRunStorage"


# ---------------------------------------------------------------- kustomize overlays


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_builds_and_validates(overlay: str, values: Manifest, tmp_path: Path) -> None:
    manifests = kustomize(DEPLOY / "k8s" / "overlays" / overlay)
    result = k8s_validate(manifests, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    by_kind: dict[str, dict[str, Manifest]] = {}
    for m in manifests:
        by_kind.setdefault(m["kind"], {})[m["metadata"]["name"]] = m
        assert m["metadata"].get("namespace", NAMESPACE) == NAMESPACE or m["kind"] == "Namespace"
    for workload in [*by_kind.get("Deployment", {}).values(), *by_kind.get("StatefulSet", {}).values()]:
        for c in containers(workload):
            assert {"requests", "limits"} <= set(c.get("resources", {})), f"{workload['metadata']['name']}"
        # Our Deployments (MLflow, API, proxies) read-only too; the dev Postgres writes its socket dir.
        read_only = workload["kind"] == "Deployment"
        assert insecure(workload["spec"]["template"]["spec"], workload["metadata"]["name"], read_only) == []
    assert "default-deny-ingress" in by_kind["NetworkPolicy"]
    # MLflow runs the code's image (client and server versions match): the one the chart deploys.
    mlflow = containers(by_kind["Deployment"]["mlflow"])[0]
    chart_values = merge_values(VALUES, VALUES_PRODUCTION) if overlay == "production" else values
    expected = image_of(user_deployment(chart_values)) if overlay == "production" else "shelfcast:dev"
    assert mlflow["image"] == expected
    # Secrets reach containers as env only: a $(VAR) in the command line is readable by ps on the node.
    for workload in by_kind["Deployment"].values():
        for c in containers(workload):
            assert "$(" not in " ".join(c.get("command", []) + c.get("args", [])), workload["metadata"][
                "name"
            ]
    # What the chart's values refer to exists (the instance secret only where we template it).
    config_maps = by_kind["ConfigMap"]
    assert config_maps["shelfcast-env"]["data"]["SHELFCAST_MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert "shelfcast-home" in by_kind["PersistentVolumeClaim"]
    secrets = by_kind.get("Secret", {})
    if overlay == "production":
        assert secrets == {}, "production must not apply the placeholder Secrets"
    else:
        wanted = {values["global"]["postgresqlSecretName"], "shelfcast-api", "mlflow-secrets"} | {
            s["name"] for s in user_deployment(values)["envSecrets"]
        }
        assert wanted <= set(secrets)
        for secret in secrets.values():  # templates only: placeholders, never real values
            assert all("CHANGE-ME" in v for v in secret["stringData"].values()), secret["metadata"]["name"]


def test_invalid_overlay_fails_validation(tmp_path: Path) -> None:
    """A kustomize overlay with a field Kubernetes does not know must not pass."""
    overlay = tmp_path / "broken"
    overlay.mkdir()
    base = os.path.relpath(DEPLOY / "k8s" / "base", overlay)
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump({"resources": [base], "patches": [{"path": "patch.yaml"}]})
    )
    patch = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mlflow"},
        "spec": {"template": {"spec": {"containers": [{"name": "mlflow", "resourcez": {"cpu": "1"}}]}}},
    }  # fmt: skip
    (overlay / "patch.yaml").write_text(yaml.safe_dump(patch))
    result = k8s_validate(kustomize(overlay), tmp_path)
    assert result.returncode != 0
    assert "resourcez" in result.stdout + result.stderr


def by_name(manifests: list[Manifest], kind: str) -> dict[str, Manifest]:
    return {m["metadata"]["name"]: m for m in manifests if m["kind"] == kind}


def env_sources(container: Manifest) -> dict[str, Manifest]:
    """Each env variable's source: {"value": ...} or {"secret": name/key} / {"configmap": ...}."""
    out = {}
    for e in container.get("env", []):
        ref = e.get("valueFrom", {}).get("secretKeyRef")
        out[e["name"]] = {"secret": f"{ref['name']}/{ref['key']}"} if ref else {"value": e.get("value")}
    return out


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_api_deployment(overlay: str) -> None:
    """Issue 13's API on Kubernetes: 2 replicas, probes, Prometheus annotations, the pepper from a
    Secret, keys and request log in Postgres (the warehouse setting), the bundle volume read-only,
    a Service, an HPA and a PDB that all select it."""
    manifests = kustomize(DEPLOY / "k8s" / "overlays" / overlay)
    api = by_name(manifests, "Deployment")["shelfcast-api"]
    pod = api["spec"]["template"]
    labels = pod["metadata"]["labels"]
    assert api["spec"]["replicas"] == 2 and selects(api["spec"]["selector"], labels)
    container = containers(api)[0]
    assert container["command"][:2] == ["shelfcast", "serve"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/path"] == "/metrics"
    assert annotations["prometheus.io/port"] == str(container["ports"][0]["containerPort"])
    env = env_sources(container)
    assert env["SHELFCAST_SERVE_KEY_PEPPER"] == {"secret": "shelfcast-api/SHELFCAST_SERVE_KEY_PEPPER"}
    assert env["FORWARDED_ALLOW_IPS"] == {"value": "*"}  # failed key checks count per real client
    refs = {next(iter(e.values()))["name"] for e in container["envFrom"]}
    assert refs == {"shelfcast-env", "shelfcast-secrets"}  # SHELFCAST_PG_DSN: keys and log in Postgres
    config = by_name(manifests, "ConfigMap")["shelfcast-env"]["data"]
    assert config["SHELFCAST_WAREHOUSE"] == "postgres"
    home = next(m for m in container["volumeMounts"] if m["name"] == "shelfcast-home")
    assert home["readOnly"] is True
    service = by_name(manifests, "Service")["shelfcast-api"]["spec"]
    assert selects({"matchLabels": service["selector"]}, labels) and service["selector"]
    hpa = by_name(manifests, "HorizontalPodAutoscaler")["shelfcast-api"]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "shelfcast-api" and hpa["minReplicas"] == 2
    pdb = by_name(manifests, "PodDisruptionBudget")["shelfcast-api"]["spec"]
    assert selects(pdb["selector"], labels) and pdb["minAvailable"] < api["spec"]["replicas"]


def test_production_uis_only_through_oauth2_proxy() -> None:
    """Production: the ingress sends the UIs' hosts to oauth2-proxy, never to the webserver or MLflow;
    each proxy forwards to its UI; client and cookie secrets come from the Secret `oauth2-proxy`."""
    manifests = kustomize(DEPLOY / "k8s" / "overlays" / "production")
    backends = {
        rule["host"]: path["backend"]["service"]["name"]
        for ingress in by_name(manifests, "Ingress").values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert set(backends.values()) == {"dagster-ui-proxy", "mlflow-ui-proxy", "shelfcast-api"}
    deployments = by_name(manifests, "Deployment")
    upstreams = {}
    for name in ["dagster-ui-proxy", "mlflow-ui-proxy"]:
        env = env_sources(containers(deployments[name])[0])
        for variable, key in [("CLIENT_ID", "client-id"), ("CLIENT_SECRET", "client-secret"),
                              ("COOKIE_SECRET", "cookie-secret")]:  # fmt: skip
            assert env[f"OAUTH2_PROXY_{variable}"] == {"secret": f"oauth2-proxy/{key}"}, name
        upstreams[name] = env["OAUTH2_PROXY_UPSTREAMS"]["value"]
    web_port = merge_values(VALUES, VALUES_PRODUCTION)["dagsterWebserver"]["service"]["port"]
    assert upstreams == {
        "dagster-ui-proxy": f"http://{RELEASE}-dagster-webserver:{web_port}",
        "mlflow-ui-proxy": "http://mlflow:5000",
    }
    settings = next(m for m in manifests if m["metadata"]["name"].startswith("oauth2-proxy-"))["data"]
    assert settings["OAUTH2_PROXY_PROVIDER"] and not any("SECRET" in k for k in settings)


def test_dev_overlay_keeps_the_uis_on_port_forward() -> None:
    """Dev: no Ingress, no proxy; the UIs are reached by `kubectl port-forward` only."""
    manifests = kustomize(DEPLOY / "k8s" / "overlays" / "dev")
    assert by_name(manifests, "Ingress") == {} and "dagster-ui-proxy" not in by_name(manifests, "Deployment")


# The chart's pods, by the labels its templates give them (deployment-webserver.yaml and the like).
CHART_PODS = [
    Pod("webserver", NAMESPACE, {"component": "dagster-webserver"}),
    Pod("daemon", NAMESPACE, {"component": "dagster-daemon"}),
    Pod("code-server", NAMESPACE, {"component": "user-deployments", "deployment": LOCATION}),
]
OUTSIDERS = [
    Pod("stranger", NAMESPACE, {"app": "something-else"}),
    Pod("other-namespace", "default", {}),
    Pod("ingress-controller", "ingress-nginx", {"app.kubernetes.io/name": "ingress-nginx"}),
    Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"}),
]
MANAGED_POSTGRES = External("managed-postgres", "10.20.30.5")
# Who must reach what (target, port): everyone else must not.
POSTGRES_CLIENTS = {"webserver", "daemon", "code-server", "run", "step", "mlflow", "shelfcast-api"}
REACH = {
    ("mlflow", 5000): {"run", "step"},
    ("code-server", 3030): {"webserver", "daemon"},
    ("shelfcast-api", 8000): {"ingress-controller", "prometheus"},
    ("webserver", 3000): set(),  # dev: port-forward only
}
REACH_DEV = REACH | {("postgres", 5432): POSTGRES_CLIENTS}
REACH_PRODUCTION = REACH | {
    ("mlflow", 5000): REACH[("mlflow", 5000)] | {"mlflow-ui-proxy"},
    ("webserver", 3000): {"dagster-ui-proxy"},
    ("dagster-ui-proxy", 4180): {"ingress-controller"},
    ("mlflow-ui-proxy", 4180): {"ingress-controller"},
    ("managed-postgres", 5432): POSTGRES_CLIENTS,
}


def overlay_pods(manifests: list[Manifest]) -> list[Pod]:
    return [
        Pod(m["metadata"]["name"].removesuffix("-0"), NAMESPACE, m["spec"]["template"]["metadata"]["labels"])
        for m in manifests
        if m["kind"] in ("Deployment", "StatefulSet")
    ]


def reachability(policies: list[Manifest], pods: list[Pod], expected: dict) -> dict:
    """For each (target, port) of `expected`, the pods that can connect to it. For a target outside
    the cluster only our namespace's pods count: other namespaces' egress is not ours to close (the
    database's own firewall admits the cluster, deploy/README.md)."""
    targets = {p.name: p for p in pods} | {MANAGED_POSTGRES.name: MANAGED_POSTGRES}

    def sources(target: Pod | External) -> list[Pod]:
        return [p for p in pods if p != target and (isinstance(target, Pod) or p.namespace == NAMESPACE)]

    return {
        (name, port): {
            src.name for src in sources(targets[name]) if can_connect(policies, src, targets[name], port)
        }
        for name, port in expected
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_network_policies_admit_only_who_needs_it(
    overlay: str, k8s_instance: dg.DagsterInstance, workspace: Any
) -> None:
    """The overlay's NetworkPolicies, evaluated for every pod: the chart's, the run and step pods the
    launcher and executor really build (their labels), ours, and pods that must be kept out."""
    manifests = kustomize(DEPLOY / "k8s" / "overlays" / overlay)
    run = launch(k8s_instance, workspace, "daily_refresh")["spec"]["template"]["metadata"]["labels"]
    step = training_step_job(k8s_instance, workspace)[0]["spec"]["template"]["metadata"]["labels"]
    pods = [*CHART_PODS, Pod("run", NAMESPACE, run), Pod("step", NAMESPACE, step),
            *overlay_pods(manifests), *OUTSIDERS]  # fmt: skip
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    expected = REACH_PRODUCTION if overlay == "production" else REACH_DEV
    assert reachability(policies, pods, expected) == expected
    # Outbound stays open where nothing needs closing: a run pod reaches the internet and the K8s API.
    assert can_connect(policies, pods[3], External("internet", "93.184.216.34"), 443)
    for policy in policies:  # no policy selects nobody (a misspelled label)
        assert any(selects(policy["spec"]["podSelector"], p.labels) for p in pods if p.namespace == NAMESPACE)


def test_network_policy_evaluation_can_fail(k8s_instance: dg.DagsterInstance, workspace: Any) -> None:
    """Without the default deny, a stranger reaches the daemon (no other policy selects it); without
    run pods in the mlflow policy, training cannot log; an empty `from` opens MLflow to all."""
    manifests = kustomize(DEPLOY / "k8s" / "overlays" / "dev")
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    stranger, daemon = OUTSIDERS[0], CHART_PODS[1]
    assert not can_connect(policies, stranger, daemon, 8080)
    open_policies = [p for p in policies if p["metadata"]["name"] != "default-deny-ingress"]
    assert can_connect(open_policies, stranger, daemon, 8080)
    run_job = launch(k8s_instance, workspace, "daily_refresh")
    run = Pod("run", NAMESPACE, run_job["spec"]["template"]["metadata"]["labels"])
    mlflow = next(p for p in overlay_pods(manifests) if p.name == "mlflow")
    assert can_connect(policies, run, mlflow, 5000)
    broken = copy.deepcopy(policies)
    rule = next(p for p in broken if p["metadata"]["name"] == "mlflow")["spec"]["ingress"][0]
    rule["from"][0]["podSelector"]["matchExpressions"][0]["values"] = ["step_worker"]
    assert not can_connect(broken, run, mlflow, 5000)
    rule["from"] = []  # an empty `from` admits every source (Kubernetes' rule), the stranger too
    assert can_connect(broken, OUTSIDERS[0], mlflow, 5000)


def test_workflow_passes_the_kubeconfig_as_a_file() -> None:
    """The deploy job hands secrets to steps through `env` only: no script text contains a secret
    expression; the kubeconfig is written to a file that KUBECONFIG names, and removed at the end."""
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "deploy.yaml").read_text())
    steps = [step for job in workflow["jobs"].values() for step in job["steps"]]
    for step in steps:
        assert "secrets." not in step.get("run", ""), step.get("name")
    writer = next(step for step in steps if "KUBECONFIG_DATA" in step.get("env", {}))
    assert writer["env"]["KUBECONFIG_DATA"] == "${{ secrets.KUBECONFIG }}"
    assert '"$KUBECONFIG_DATA" > "$RUNNER_TEMP/kubeconfig"' in writer["run"]
    assert 'KUBECONFIG=$RUNNER_TEMP/kubeconfig" >> "$GITHUB_ENV"' in writer["run"]
    assert any('rm -f "$RUNNER_TEMP/kubeconfig"' in s.get("run", "") and s.get("if") == "always()"
               for s in steps)  # fmt: skip


# ---------------------------------------------------------------- the code server


def test_code_server_passes_the_chart_probe(code_server: int) -> None:
    """The chart's liveness/startup probe is `dagster api grpc-health-check -p <port>`."""
    check = [BIN / "dagster", "api", "grpc-health-check", "-p", str(code_server), "--host", "127.0.0.1"]
    assert subprocess.run(check, capture_output=True).returncode == 0


def test_workspace_loads_the_code_server(workspace: Any, values: Manifest) -> None:
    location = workspace.get_code_location(LOCATION)
    repo = location.get_repository("__repository__")
    assert {"full_refresh", "daily_refresh", "retrain"} <= {j.name for j in repo.get_all_jobs()}
    assert dg.AssetKey("trained_model") in {n.asset_key for n in repo.get_asset_node_snaps()}
    origin = repo.get_python_origin()
    assert origin.container_image == image_of(user_deployment(values))
    assert origin.container_context == chart_container_context(values)


def execution_fields(job: RemoteJob) -> set[str]:
    """Every field name under the job's `execution` run config: its executor's config schema."""
    schema = job.job_snapshot.config_schema_snapshot
    root = schema.get_config_snap(job.job_snapshot.mode_def_snaps[0].root_config_key)
    pending = [next(f.type_key for f in root.fields if f.name == "execution")]
    names: set[str] = set()
    while pending:
        snap = schema.get_config_snap(pending.pop())
        for f in snap.fields or []:
            names.add(f.name)
            pending.append(f.type_key)
        pending.extend(snap.type_param_keys or [])
    return names


def test_retrain_runs_steps_in_pods_other_jobs_in_process(workspace: Any) -> None:
    """SHELFCAST_EXECUTOR=k8s (the ConfigMap): `retrain` takes k8s_job_executor, the rest stay in-process."""
    assert "per_step_k8s_config" in execution_fields(remote_job(workspace, "retrain"))
    for name in ["daily_refresh", "full_refresh"]:
        assert "per_step_k8s_config" not in execution_fields(remote_job(workspace, name)), name


# ---------------------------------------------------------------- run and step pods


@pytest.mark.parametrize("job_name", ["daily_refresh", "retrain"])
def test_run_launcher_builds_a_valid_run_pod(
    job_name: str, k8s_instance: dg.DagsterInstance, workspace: Any, values: Manifest, tmp_path: Path
) -> None:
    job = launch(k8s_instance, workspace, job_name)
    run_resources = values["runLauncher"]["config"]["k8sRunLauncher"]["resources"]
    assert run_pod_problems(job, values, run_resources) == []
    assert job["metadata"]["namespace"] == NAMESPACE
    assert job["metadata"]["labels"]["dagster/job"] == job_name
    assert job["metadata"]["labels"]["dagster/code-location"] == LOCATION
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["dagster", "api", "execute_run"]
    assert container["imagePullPolicy"] == user_deployment(values)["image"]["pullPolicy"]
    result = k8s_validate([job], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def training_step_job(k8s_instance: dg.DagsterInstance, workspace: Any) -> tuple[Manifest, Manifest]:
    """What k8s_job_executor builds for `trained_model` (its launch_step, minus the step context):
    the run's container context plus the op's dagster-k8s/config tag; and that tag's resources."""
    job = remote_job(workspace, "retrain")
    tags = next(
        op.tags for op in job.job_snapshot.node_defs_snapshot.op_def_snaps if op.name == "trained_model"
    )
    run = create_run_for_test(
        k8s_instance, job_name="retrain", remote_job_origin=job.get_remote_origin(),
        job_code_origin=job.get_python_origin(),
    )  # fmt: skip
    launcher = k8s_instance.run_launcher
    context = K8sContainerContext.create_for_run(run, launcher, include_run_tags=False).merge(
        K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(tags))
    )
    job_config = context.get_k8s_job_config(None, launcher).with_image(
        run.job_code_origin.repository_origin.container_image
    )
    step_job = construct_dagster_k8s_job(
        job_config=job_config,
        args=["dagster", "api", "execute_step"],
        job_name=f"dagster-step-{run.run_id[:8]}",
        pod_name=f"dagster-step-{run.run_id[:8]}",
        component="step_worker",
        user_defined_k8s_config=context.run_k8s_config,
        labels={"dagster/job": "retrain", "dagster/op": "trained_model", "dagster/run-id": run.run_id},
    )
    training = json.loads(tags["dagster-k8s/config"])["container_config"]["resources"]
    return ApiClient().sanitize_for_serialization(step_job), training


def test_step_pod_for_training_carries_its_tags(
    k8s_instance: dg.DagsterInstance, workspace: Any, values: Manifest, tmp_path: Path
) -> None:
    manifest, training = training_step_job(k8s_instance, workspace)
    assert run_pod_problems(manifest, values, training) == []
    assert training != values["runLauncher"]["config"]["k8sRunLauncher"]["resources"]
    result = k8s_validate([manifest], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_problems_are_reported(k8s_instance: dg.DagsterInstance, workspace: Any, values: Manifest) -> None:
    """The checker is not vacuous: a run pod without the warehouse secret, or with other resources,
    is reported."""
    job = copy.deepcopy(launch(k8s_instance, workspace, "daily_refresh"))
    resources = values["runLauncher"]["config"]["k8sRunLauncher"]["resources"]
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [e for e in container["envFrom"] if "secretRef" not in e]
    problems = run_pod_problems(job, values, resources)
    assert problems == ["secret shelfcast-secrets not in envFrom"]
    assert any(p.startswith("resources") for p in run_pod_problems(job, values, {"requests": {"cpu": "1"}}))
    del container["securityContext"]["capabilities"]
    job["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] = False
    assert run_pod_problems(job, values, resources)[1:] == [
        f"run pod: not runAsNonRoot with a runAsUser: {job['spec']['template']['spec']['securityContext']}",
        f"run pod/{container['name']}: capabilities not dropped",
    ]
