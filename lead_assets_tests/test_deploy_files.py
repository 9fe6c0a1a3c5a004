"""The deployment files (Dockerfile, compose, Helm values) agree with the code they deploy.

No container can run on this machine kind (docs/deploy.md), so this checks what can be checked
without one: every file parses; they all name one image; every variable they pass or reference is
one the project (or Dagster, listed below with the reason) reads; no secret is written into them;
the commands and the module they start exist; the compose dagster.yaml is a valid Dagster instance
config; the Helm values use only keys the official chart has.
"""

from __future__ import annotations

import importlib
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from lead_assets.config.environment import SETTINGS

REPO = Path(__file__).resolve().parent.parent
COMPOSE_DIR = REPO / "deploy" / "compose"
HELM_VALUES = REPO / "deploy" / "helm" / "values.yaml"
PROJECT_VERSION = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
IMAGE = f"lead-sprint:{PROJECT_VERSION}"
CODE_SERVER = ["dagster", "code-server", "start"]
DEFINITIONS_MODULE = "lead_assets.definitions"

# Variables outside SETTINGS that the files may pass, each with who reads it.
DAGSTER_READS = {
    "DAGSTER_PG_HOST": "the storage block of dagster.yaml ({env: ...}), top-level and compose",
    "DAGSTER_PG_PORT": "the storage block of dagster.yaml",
    "DAGSTER_PG_USER": "the storage block of dagster.yaml",
    "DAGSTER_PG_PASSWORD": "the storage block of dagster.yaml (the Helm chart sets it from its secret)",
    "DAGSTER_PG_DB": "the storage block of dagster.yaml",
    "DAGSTER_CURRENT_IMAGE": "`dagster code-server start` (dagster/_cli/code_server.py): the image runs start from",
}
# Compose interpolation only (`${...}` in the compose file), reaching no container.
COMPOSE_ONLY = {"DOCKER_GID": "group_add: the host's docker socket group, for the non-root daemon/webserver"}
# Dockerfile ENV read by the interpreter and pip themselves (build and start-up behaviour).
TOOLCHAIN_ENV = {"PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PIP_NO_CACHE_DIR", "PIP_DISABLE_PIP_VERSION_CHECK"}
# Read by the third-party images' own entry points, not by the project.
THIRD_PARTY_ENV = {"postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}, "redis": set()}

# DockerRunLauncher's config keys in dagster-docker 0.29.27 (dagster_docker/utils.py
# DOCKER_CONFIG_SCHEMA merged with container_context.py DOCKER_CONTAINER_CONTEXT_SCHEMA).
DOCKER_RUN_LAUNCHER_KEYS = {"image", "network", "registry", "env_vars", "container_kwargs", "networks"}

# Key paths of the official Dagster Helm chart (helm/dagster/values.yaml and the pydantic models
# under helm/dagster/schema/schema/charts/, dagster-io/dagster master read 2026-12-04; the chart's
# version is the Dagster version, 1.13.27 here). `concurrency.*` came with dagster-io/dagster#33194
# (2026-01). Lists of Kubernetes objects (env, volumes, resources, ...) are leaves: their insides are
# Kubernetes', not the chart's.
DEPLOYMENT = "dagster-user-deployments.deployments[]"
CHART_KEY_PATHS = {
    "global", "global.postgresqlSecretName",
    "postgresql", "postgresql.enabled", "postgresql.postgresqlHost", "postgresql.postgresqlUsername",
    "postgresql.postgresqlPassword", "postgresql.postgresqlDatabase", "postgresql.postgresqlScheme",
    "postgresql.service", "postgresql.service.port",
    "generatePostgresqlPasswordSecret", "generateCeleryConfigSecret",
    "redis", "redis.enabled", "redis.internal", "rabbitmq", "rabbitmq.enabled",
    "dagster-user-deployments", "dagster-user-deployments.enabled", "dagster-user-deployments.enableSubchart",
    "dagster-user-deployments.deployments", DEPLOYMENT,
    *(f"{DEPLOYMENT}.{k}" for k in (
        "name", "image", "image.repository", "image.tag", "image.pullPolicy", "codeServerArgs",
        "dagsterApiGrpcArgs", "port", "includeConfigInLaunchedRuns", "includeConfigInLaunchedRuns.enabled",
        "env", "envConfigMaps", "envSecrets", "volumes", "volumeMounts", "podSecurityContext",
        "securityContext", "resources", "labels", "annotations", "nodeSelector", "affinity", "tolerations",
        "readinessProbe", "readinessProbe.enabled", "readinessProbe.periodSeconds",
        "readinessProbe.timeoutSeconds", "readinessProbe.failureThreshold")),
    "runLauncher", "runLauncher.type", "runLauncher.config", "runLauncher.config.k8sRunLauncher",
    *(f"runLauncher.config.k8sRunLauncher.{k}" for k in (
        "imagePullPolicy", "jobNamespace", "loadInclusterConfig", "envConfigMaps", "envSecrets", "envVars",
        "volumes", "volumeMounts", "labels", "resources", "failPodOnRunFailure", "securityContext",
        "runK8sConfig")),
    "dagsterDaemon", "dagsterDaemon.enabled", "dagsterDaemon.runCoordinator",
    "dagsterDaemon.runCoordinator.enabled", "dagsterDaemon.runCoordinator.type",
    "dagsterDaemon.runCoordinator.config", "dagsterDaemon.runCoordinator.config.queuedRunCoordinator",
    "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.maxConcurrentRuns",
    "dagsterDaemon.runCoordinator.config.queuedRunCoordinator.tagConcurrencyLimits",
    "dagsterDaemon.runMonitoring", "dagsterDaemon.runMonitoring.enabled",
    "dagsterDaemon.runMonitoring.startTimeoutSeconds", "dagsterDaemon.runMonitoring.pollIntervalSeconds",
    "dagsterDaemon.runMonitoring.maxResumeRunAttempts", "dagsterDaemon.runMonitoring.freeSlotsAfterRunEndSeconds",
    "dagsterDaemon.runRetries", "dagsterDaemon.runRetries.enabled", "dagsterDaemon.runRetries.maxRetries",
    "dagsterDaemon.runRetries.retryOnAssetOrOpFailure",
    "concurrency", "concurrency.enabled", "concurrency.pools", "concurrency.pools.defaultLimit",
    "concurrency.pools.granularity",
    "computeLogManager", "computeLogManager.type", "computeLogManager.config",
    "computeLogManager.config.s3ComputeLogManager",
    *(f"computeLogManager.config.s3ComputeLogManager.{k}" for k in (
        "bucket", "prefix", "region", "localDir", "useSsl", "verify", "endpointUrl", "skipEmptyFiles",
        "uploadInterval", "uploadExtraArgs", "showUrlOnly")),
    "serviceAccount", "serviceAccount.create", "serviceAccount.name", "serviceAccount.annotations",
    "ingress", "ingress.enabled", "telemetry", "telemetry.enabled",
}
# Values that are Kubernetes objects or free-form chart lists: not descended into.
FREE_FORM = {"env", "envSecrets", "envConfigMaps", "volumes", "volumeMounts", "podSecurityContext",
             "securityContext", "resources", "runK8sConfig", "tagConcurrencyLimits", "annotations",
             "codeServerArgs", "labels"}

SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|API_KEY|PRIVATE_KEY|DATABASE_URL|REDIS_URL|SMTP_URL")
SECRET_VALUE = re.compile(
    r"xox[abprs]-|pat-(na|eu)\d-|\bsk_[A-Za-z0-9]|\bsecret_[A-Za-z0-9]|-----BEGIN|"
    r"://[^/\s:@${}]+:[^/\s@${}]+@|^[A-Za-z0-9+_\-]{32,}$"
)
REFERENCE = re.compile(r"^\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}$")


# --- parsing -------------------------------------------------------------------------------------

def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1].rstrip() + " "
            continue
        full = (pending + line).strip()
        pending = ""
        instruction, _, args = full.partition(" ")
        out.append((instruction.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a continued line"
    return out


def dockerfile() -> list[tuple[str, str]]:
    return dockerfile_instructions((REPO / "Dockerfile").read_text())


def compose() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "docker-compose.yml").read_text())


def compose_instance() -> dict:
    return yaml.safe_load((COMPOSE_DIR / "dagster.yaml").read_text())


def helm() -> dict:
    return yaml.safe_load(HELM_VALUES.read_text())


def env_example_names(commented: bool = True) -> dict[str, str]:
    """NAME -> value of the `NAME=` lines of .env.deploy.example (with `commented`, `# NAME=` too)."""
    pattern = r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$" if commented else r"^([A-Z][A-Z0-9_]*)=(.*)$"
    names = {}
    for line in (COMPOSE_DIR / ".env.deploy.example").read_text().splitlines():
        m = re.match(pattern, line.strip())
        if m:
            names[m.group(1)] = m.group(2)
    return names


def project_services(doc: dict) -> dict[str, dict]:
    return {name: svc for name, svc in doc["services"].items() if name not in THIRD_PARTY_ENV}


def env_keys(environment) -> set[str]:
    if isinstance(environment, dict):
        return set(environment)
    return {item.split("=", 1)[0] for item in environment or []}


def scalars(node, path=""):
    """Every (path, string value) in a parsed YAML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from scalars(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from scalars(value, f"{path}[{i}]")
    elif node is not None:
        yield path, str(node)


def inlined_secrets(node) -> list[str]:
    """Paths whose value looks like a secret, or that give a secret-named variable a literal value."""
    found = [f"{path}: looks like a secret" for path, value in scalars(node) if SECRET_VALUE.search(value)]
    for path, value in scalars(node):
        name = path.rsplit(".", 1)[-1]
        if SECRET_NAME.search(name) and value and not REFERENCE.match(value):
            found.append(f"{path}: {name} given a literal value")
    return found


def helm_key_paths(node, path=""):
    """Key paths of the Helm values; list items of `deployments` as `[]`, free-form values as leaves."""
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        key_path = f"{path}.{key}" if path else key
        yield key_path
        if key in FREE_FORM:
            continue
        if isinstance(value, dict):
            yield from helm_key_paths(value, key_path)
        elif isinstance(value, list) and key == "deployments":
            yield f"{key_path}[]"
            for item in value:
                yield from helm_key_paths(item, f"{key_path}[]")


def helm_env_names(values: dict) -> set[str]:
    names = set()
    for dep in values["dagster-user-deployments"]["deployments"]:
        names |= {e["name"] for e in dep.get("env", [])}
    return names


def dagster_env_refs(node) -> set[str]:
    """Names referenced as {env: NAME} in a Dagster config tree."""
    if isinstance(node, dict):
        refs = {node["env"]} if set(node) == {"env"} else set()
        for value in node.values():
            refs |= dagster_env_refs(value)
        return refs
    if isinstance(node, list):
        return set().union(*(dagster_env_refs(v) for v in node)) if node else set()
    return set()


# --- the Dockerfile --------------------------------------------------------------------------------

def test_dockerfile_takes_the_base_image_as_an_argument_and_runs_as_a_non_root_user():
    steps = dockerfile()
    froms = [i for i, (ins, _) in enumerate(steps) if ins == "FROM"]
    assert len(froms) == 1 and steps[froms[0]][1] == "${BASE_IMAGE}"
    assert ("ARG", "BASE_IMAGE=python:3.11-slim") in steps[: froms[0]], "BASE_IMAGE must be an ARG before FROM"
    runs = " ".join(args for ins, args in steps if ins == "RUN")
    assert "postgresql-client" in runs, "pg_dump/pg_restore (lead_store_backup) come from postgresql-client"
    assert re.search(r"pip install -e \.", runs), "editable: the store reads sql/ beside the package"
    users = [args for ins, args in steps if ins == "USER"]
    assert users and users[-1].split(":")[0].isdigit() and users[-1].split(":")[0] != "0"
    assert [ins for ins, _ in steps].count("ENTRYPOINT") == 0, "the launchers replace the command"


def test_dockerfile_default_command_is_the_code_server_of_the_project_module():
    cmd = json.loads(next(args for ins, args in dockerfile() if ins == "CMD"))
    assert cmd[:3] == CODE_SERVER and cmd[cmd.index("-m") + 1] == DEFINITIONS_MODULE
    assert cmd[cmd.index("-h") + 1] == "0.0.0.0" and cmd[cmd.index("-p") + 1] == "4000"


def test_dockerfile_copies_what_exists_and_is_not_ignored():
    ignored = {line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    copied = [src for ins, args in dockerfile() if ins == "COPY" for src in shlex.split(args)[:-1]]
    assert copied
    for src in copied:
        assert (REPO / src).exists(), f"COPY {src}: no such file"
        assert src not in ignored, f"COPY {src} but .dockerignore drops it"


def test_deploy_libraries_are_pinned_to_the_projects_integration_release():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    integration_pin = next(d.split("==")[1] for d in deps if d.startswith("dagster-postgres=="))
    libs = next(args for ins, args in dockerfile() if ins == "ARG" and args.startswith("DAGSTER_DEPLOY_LIBS="))
    pins = dict(p.split("==") for p in libs.split("=", 1)[1].strip('"').split())
    assert set(pins) == {"dagster-docker", "dagster-k8s", "dagster-aws"}
    assert set(pins.values()) == {integration_pin}


# --- one image ---------------------------------------------------------------------------------------

def test_every_file_names_the_same_image():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(rf"^IMAGE \?= {re.escape(IMAGE)}$", makefile, re.M)
    doc = compose()
    for name, svc in project_services(doc).items():
        assert svc["image"] == IMAGE, name
    assert doc["services"]["user_code"]["environment"]["DAGSTER_CURRENT_IMAGE"] == IMAGE
    for dep in helm()["dagster-user-deployments"]["deployments"]:
        repo_name = dep["image"]["repository"].rsplit("/", 1)[-1]
        assert f"{repo_name}:{dep['image']['tag']}" == IMAGE, dep["name"]


# --- variables and secrets -------------------------------------------------------------------------------

def passed_variables() -> dict[str, set[str]]:
    """Every variable name the deploy files pass or reference, by where."""
    doc, instance, values = compose(), compose_instance(), helm()
    text = (COMPOSE_DIR / "docker-compose.yml").read_text()
    return {
        "Dockerfile ENV": {a.split("=")[0] for ins, args in dockerfile() if ins == "ENV"
                           for a in args.split() if "=" in a} - TOOLCHAIN_ENV,
        "compose environment": set().union(*(env_keys(s.get("environment")) for s in project_services(doc).values())),
        ".env.deploy.example": set(env_example_names()),
        "compose dagster.yaml env_vars": set(instance["run_launcher"]["config"]["env_vars"]),
        "compose dagster.yaml {env: ...}": dagster_env_refs(instance),
        "Helm env": helm_env_names(values),
        "compose ${...}": set(re.findall(r"\$\{([A-Z0-9_]+)", text)) - set(COMPOSE_ONLY),
    }


def test_every_variable_passed_is_one_the_project_or_dagster_reads():
    known = set(SETTINGS) | set(DAGSTER_READS)
    for where, names in passed_variables().items():
        assert names, f"{where}: nothing found (parser broken?)"
        assert names <= known, f"{where} passes variables nobody reads: {sorted(names - known)}"
    for name, svc in compose()["services"].items():
        if name in THIRD_PARTY_ENV:
            assert env_keys(svc.get("environment")) <= THIRD_PARTY_ENV[name], name


def test_runs_receive_every_setting_of_the_env_file_and_the_storage_variables():
    instance = compose_instance()
    forwarded = set(instance["run_launcher"]["config"]["env_vars"])
    assert set(env_example_names()) <= forwarded
    assert dagster_env_refs(instance["storage"]) <= forwarded


def test_every_forwarded_variable_is_set_in_the_daemons_environment():
    # DockerRunLauncher resolves each env_vars name from the daemon's environment and refuses to
    # launch the run when one is unset (dagster._core.utils.parse_env_var): a name only commented
    # out in the env file would fail every run.
    daemon = compose()["services"]["daemon"]
    assert daemon["env_file"] == [".env.deploy"]
    present = env_keys(daemon.get("environment")) | set(env_example_names(commented=False))
    missing = set(compose_instance()["run_launcher"]["config"]["env_vars"]) - present
    assert not missing, f"forwarded to runs but never set in the daemon: {sorted(missing)}"


def test_no_secret_is_inlined():
    for label, tree in (("compose", compose()), ("compose dagster.yaml", compose_instance()), ("Helm", helm()),
                        ("Dockerfile", dict(a.split("=", 1) for ins, args in dockerfile() if ins in ("ENV", "ARG")
                                            for a in args.split() if "=" in a))):
        assert not inlined_secrets(tree), f"{label}: {inlined_secrets(tree)}"
    assert all(value == "" for value in env_example_names().values()), ".env.deploy.example lists names only"
    assert ".env.deploy" in (COMPOSE_DIR / ".gitignore").read_text().split()
    values = helm()
    assert values["postgresql"]["postgresqlPassword"] == "" and not values["generatePostgresqlPasswordSecret"]
    for dep in values["dagster-user-deployments"]["deployments"]:
        assert not any(SECRET_NAME.search(e["name"]) for e in dep["env"]), "secrets come from envSecrets"


def test_the_secret_check_catches_a_planted_secret():
    planted = {"environment": {"HUBSPOT_ACCESS_TOKEN": "pat-na1-11111111-2222-3333-4444-555555555555",
                               "LEADS_DATABASE_URL": "postgresql://lead:hunter2@postgres/leads",
                               "REDIS_URL": "${REDIS_URL}"},
               "note": "xoxb-1234-5678-abcdefgh"}
    found = inlined_secrets(planted)
    assert any("HUBSPOT_ACCESS_TOKEN" in f for f in found)
    assert any("LEADS_DATABASE_URL" in f for f in found)
    assert any(f.startswith("note") for f in found)
    assert not any("REDIS_URL" in f for f in found)


# --- compose -------------------------------------------------------------------------------------------------

def test_compose_runs_the_production_topology_with_the_ui_on_loopback_only():
    services = compose()["services"]
    assert set(services) == {"postgres", "redis", "user_code", "webserver", "daemon"}
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert name == "webserver" and str(port).startswith("127.0.0.1:"), f"{name} publishes {port}"
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    uc = services["user_code"]["command"]
    assert uc[:3] == CODE_SERVER and uc[uc.index("-m") + 1] == DEFINITIONS_MODULE
    for name in ("user_code", "daemon"):
        assert services[name]["env_file"] == [".env.deploy"], name
    assert (COMPOSE_DIR / "initdb").is_dir() and "CREATE DATABASE leads" in "".join(
        p.read_text() for p in (COMPOSE_DIR / "initdb").iterdir())


def test_compose_workspace_points_at_the_code_server():
    services = compose()["services"]
    workspace = yaml.safe_load((COMPOSE_DIR / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    server = entry["grpc_server"]
    uc = services["user_code"]["command"]
    assert server["host"] == "user_code" and str(server["port"]) == uc[uc.index("-p") + 1]
    assert server["location_name"] == uc[uc.index("--location-name") + 1]


def test_compose_dagster_yaml_is_a_valid_instance_config_with_the_production_limits():
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(COMPOSE_DIR))  # raises on any schema or conflict error
    production = yaml.safe_load((REPO / "dagster.yaml").read_text())
    assert config["storage"] == production["storage"]
    assert config["concurrency"] == production["concurrency"]
    assert config["run_retries"] == production["run_retries"]
    launcher = config["run_launcher"]
    assert (launcher["module"], launcher["class"]) == ("dagster_docker", "DockerRunLauncher")
    assert set(launcher["config"]) <= DOCKER_RUN_LAUNCHER_KEYS
    networks = compose()["networks"]
    assert launcher["config"]["network"] in {n.get("name") for n in networks.values()}
    volume_names = {v.get("name") for v in compose()["volumes"].values() if v}
    for mount in launcher["config"]["container_kwargs"]["volumes"]:
        assert mount.split(":")[0] in volume_names, mount
    logs = config["compute_logs"]
    klass = getattr(importlib.import_module(logs["module"]), logs["class"])
    assert klass.config_type()  # a class Dagster can configure


# --- Helm ------------------------------------------------------------------------------------------------------

def test_helm_values_use_only_keys_of_the_official_chart():
    unknown = sorted(set(helm_key_paths(helm())) - CHART_KEY_PATHS)
    assert not unknown, f"keys the chart does not have (or not yet verified): {unknown}"


def test_helm_values_run_each_sprint_in_its_own_code_location_with_its_own_secret_and_limits():
    values = helm()
    assert values["postgresql"]["enabled"] is False and values["postgresql"]["postgresqlHost"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    logs = values["computeLogManager"]
    assert logs["type"] == "S3ComputeLogManager" and logs["config"]["s3ComputeLogManager"]["bucket"]
    deployments = values["dagster-user-deployments"]["deployments"]
    assert len(deployments) >= 2
    qrc = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    limited = {t["value"] for t in qrc["tagConcurrencyLimits"] if t["key"] == "dagster/code_location"}
    assert "runs" not in values.get("concurrency", {}), "the chart refuses run limits in both places"
    seen = {"name": set(), "secret": set(), "sprint": set(), "brief": set()}
    for dep in deployments:
        env = {e["name"]: e.get("value") for e in dep["env"]}
        assert dep["codeServerArgs"] == ["-m", DEFINITIONS_MODULE]
        assert dep["includeConfigInLaunchedRuns"]["enabled"] is True, "runs must get the sprint's settings"
        assert env["LEAD_SPRINT_ID"] and env["LEAD_SPRINT_CONFIG"]
        mounts = [m["mountPath"] for m in dep["volumeMounts"]]
        assert any(env["LEAD_SPRINT_CONFIG"].startswith(m.rstrip("/") + "/") for m in mounts)
        assert dep["name"] in limited, f"{dep['name']} has no run limit"
        for kind, value in (("name", dep["name"]), ("secret", dep["envSecrets"][0]["name"]),
                            ("sprint", env["LEAD_SPRINT_ID"]),
                            ("brief", dep["volumes"][0]["configMap"]["name"])):
            assert value not in seen[kind], f"two sprints share a {kind}: {value}"
            seen[kind].add(value)


# --- entry points ------------------------------------------------------------------------------------------

def test_the_module_and_the_commands_the_files_start_exist():
    module = importlib.import_module(DEFINITIONS_MODULE)
    assert hasattr(module, "defs")
    bin_dir = Path(sys.executable).parent
    expected = {
        ("dagster", "code-server", "start"): ["--module-name", "--location-name", "--host", "--port"],
        ("dagster", "api", "grpc-health-check"): ["--port"],
        ("dagster-webserver",): ["--host", "--port", "--workspace"],
        ("dagster-daemon", "run"): ["--workspace"],
    }
    for command, options in expected.items():
        out = subprocess.run([str(bin_dir / command[0]), *command[1:], "--help"], capture_output=True,
                             text=True, timeout=120)
        assert out.returncode == 0, f"{' '.join(command)}: {out.stderr[-500:]}"
        for option in options:
            assert option in out.stdout, f"{' '.join(command)} has no {option}"


@pytest.mark.parametrize("line, expected", [
    ("RUN a \\\n    && b", [("RUN", "a && b")]),
    ("# c\nARG X=1\n\nFROM ${X}", [("ARG", "X=1"), ("FROM", "${X}")]),
])
def test_dockerfile_parser(line, expected):
    assert dockerfile_instructions(line) == expected
