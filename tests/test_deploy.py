"""deploy/ cannot be built here (no container runtime): check that its files name only things that exist.

The compose file parses; every service has an image or a buildable Dockerfile; every ``depends_on`` and named
volume is declared; every ``CINEREC_*`` variable set anywhere in deploy/ is a real setting; every command is a
real ``cinerec`` command; the Dockerfile repeats ``.ci/run``'s steps (the same PyTorch pin, installed first),
installs real extras, drops root and checks a real liveness route.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from cinerec.cli import app as cli_app
from cinerec.config import Settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
SETTING_NAMES = set(Settings.model_fields)


def compose() -> dict[str, Any]:
    """deploy/compose.yaml, parsed."""
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert isinstance(data, dict) and data.get("services"), "compose.yaml has no services"
    return data


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def exec_form(args: str) -> list[str]:
    """A Dockerfile exec-form (JSON array) or shell-form argument as a list of words."""
    return list(json.loads(args)) if args.startswith("[") else shlex.split(args)


def is_cinerec_command(words: list[str]) -> bool:
    """Whether ``words`` (``cinerec serve``, a path ending in ``/cinerec`` ...) is a command the CLI has."""
    if not words or Path(words[0]).name != "cinerec":
        return False
    # Typer may run on a click of its own: groups are told by their ``commands`` mapping, not by class
    command: Any = typer.main.get_command(cli_app)
    for word in words[1:]:
        if word.startswith("-"):
            break
        subcommands = getattr(command, "commands", None)
        if not isinstance(subcommands, dict) or word not in subcommands:
            return False
        command = subcommands[word]
    return getattr(command, "commands", None) is None  # a group alone is not a runnable command


def env_names(environment: dict[str, Any] | list[str] | None) -> set[str]:
    """Variable names of a compose ``environment`` (mapping or ``NAME=value`` list)."""
    if environment is None:
        return set()
    if isinstance(environment, dict):
        return set(environment)
    return {item.split("=", 1)[0] for item in environment}


def assert_settings(names: set[str], where: str) -> None:
    """Every ``CINEREC_*`` name in ``names`` is a field of :class:`Settings`."""
    cinerec = {n for n in names if n.startswith("CINEREC_")}
    unknown = sorted(n for n in cinerec if n.removeprefix("CINEREC_").lower() not in SETTING_NAMES)
    assert not unknown, f"{where} sets variables that are not cinerec settings: {unknown}"


def test_compose_services_exist_and_reference_only_declared_things() -> None:
    data = compose()
    services: dict[str, Any] = data["services"]
    volumes = set(data.get("volumes") or {})
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, f"service {name} has neither image nor build"
        if "build" in svc:
            build = svc["build"] if isinstance(svc["build"], dict) else {"context": svc["build"]}
            context = (DEPLOY / build["context"]).resolve()
            assert context.is_dir(), f"{name}: build context {context} is missing"
            assert (context / build.get("dockerfile", "Dockerfile")).is_file(), f"{name}: Dockerfile missing"
        deps = svc.get("depends_on") or []
        for dep in deps:  # a list of names or a mapping keyed by name
            assert dep in services, f"{name} depends on {dep}, which is not a service"
        for mount in svc.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source", "")
            if source and not source.startswith((".", "/", "~", "$")):
                assert source in volumes, f"{name} mounts the undeclared volume {source}"
        assert_settings(env_names(svc.get("environment")), f"service {name}")
        for key in ("command", "entrypoint"):
            if key in svc:
                words = svc[key] if isinstance(svc[key], list) else shlex.split(svc[key])
                if Path(words[0]).name == "cinerec":
                    assert is_cinerec_command(words), f"{name}: {words} is not a cinerec command"


def test_compose_has_the_app_database_and_redis_with_healthchecks() -> None:
    services = compose()["services"]
    app = services["app"]
    env = app["environment"]
    assert {"CINEREC_DATABASE_URL", "CINEREC_REDIS_URL"} <= env_names(env)
    assert env["CINEREC_DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgres:" in env["CINEREC_DATABASE_URL"]
    assert "//redis:" in env["CINEREC_REDIS_URL"]
    for backing in ("postgres", "redis"):
        assert services[backing]["healthcheck"]["test"], backing
        assert services[backing]["volumes"], f"{backing} keeps its data in a volume"
        assert app["depends_on"][backing]["condition"] == "service_healthy"


def test_dockerfile_repeats_ci_steps_and_runs_a_real_command() -> None:
    steps = dockerfile_instructions()
    assert steps[0] == ("FROM", "python:3.11-slim")
    runs = [args for word, args in steps if word == "RUN"]
    torch_at = next(i for i, r in enumerate(runs) if "pip install torch==" in r)
    project_at = next(i for i, r in enumerate(runs) if re.search(r"pip install '?\.\[", r))
    assert torch_at < project_at, "PyTorch (CPU) is installed before the project, as in .ci/run"
    ci_torch = re.search(r"torch==([\w.]+)", (ROOT / ".ci" / "run").read_text())
    docker_torch = re.search(r"torch==([\w.]+)", runs[torch_at])
    assert ci_torch and docker_torch and ci_torch.group(1) == docker_torch.group(1), "the same PyTorch as .ci/run"
    assert "download.pytorch.org/whl/cpu" in runs[torch_at]
    extras = re.search(r"\.\[([\w,]+)\]", runs[project_at])
    assert extras is not None
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras.group(1).split(",")) <= set(declared)

    users = [args for word, args in steps if word == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image runs as an unprivileged user"
    cmd = [args for word, args in steps if word == "CMD"]
    assert len(cmd) == 1 and is_cinerec_command(exec_form(cmd[0])), f"CMD {cmd} is not one cinerec command"
    env = " ".join(args for word, args in steps if word == "ENV")
    assert_settings(set(re.findall(r"\b(CINEREC_\w+)=", env)), "the Dockerfile")
    health = next(args for word, args in steps if word == "HEALTHCHECK")
    assert "/api/v1/health" in health


def test_dockerfile_healthcheck_route_is_liveness(tmp_path: Path) -> None:
    """The route the image's HEALTHCHECK calls exists and answers without a database."""
    from fastapi.testclient import TestClient

    from cinerec.web import create_app

    with TestClient(create_app(Settings(home=tmp_path / "no-db-yet"))) as c:
        assert c.get("/api/v1/health").json()["status"] == "ok"


def test_compose_runs_several_server_processes_and_the_retraining_worker() -> None:
    """The app serves with several processes; the worker is the same image running `cinerec worker` on the same
    data, database and Redis, started once the app (which migrates) and both backing services are healthy."""
    services = compose()["services"]
    app, worker = services["app"], services["worker"]
    serve = app["command"]
    assert is_cinerec_command(serve) and serve[1] == "serve"
    assert int(serve[serve.index("--workers") + 1]) >= 2
    assert worker["command"] == ["cinerec", "worker"] and is_cinerec_command(worker["command"])
    assert worker["build"] == app["build"]
    assert worker["volumes"] == app["volumes"]
    assert {k: v for k, v in worker["environment"].items() if k in app["environment"]} == app["environment"]
    assert_settings(env_names(worker["environment"]), "service worker")
    for dep in ("app", "postgres", "redis"):
        assert worker["depends_on"][dep]["condition"] == "service_healthy", dep
    assert worker["healthcheck"] == {"disable": True}, "the image's HEALTHCHECK calls a web server the worker has not"


def systemd_units() -> dict[str, str]:
    """deploy/*.service by file name."""
    return {p.name: p.read_text() for p in sorted(DEPLOY.glob("*.service"))}


def test_systemd_units_and_env_file_name_real_commands_and_settings() -> None:
    units = systemd_units()
    assert set(units) == {"cinerec.service", "cinerec-worker.service"}
    commands = {}
    for name, unit in units.items():
        exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M)
        assert exec_start and is_cinerec_command(shlex.split(exec_start.group(1))), f"{name}: ExecStart is not a cinerec command"
        commands[name] = shlex.split(exec_start.group(1))[1:]
        assert re.search(r"^User=(?!root$)\w+$", unit, re.M), f"{name} runs as an unprivileged user"
        assert "EnvironmentFile=-/etc/cinerec/cinerec.env" in unit, f"{name} reads the shared settings file"
        assert_settings(set(re.findall(r"^Environment=(CINEREC_\w+)=", unit, re.M)), name)
    assert commands["cinerec.service"][:1] == ["serve"] and "--workers" in commands["cinerec.service"]
    assert commands["cinerec-worker.service"] == ["worker"]
    assert not re.search(r"^Nice=", units["cinerec-worker.service"], re.M), "the worker nices itself: not twice"
    example = (DEPLOY / "cinerec.env.example").read_text()
    names = set(re.findall(r"^#?\s*(CINEREC_\w+)=", example, re.M))
    assert {"CINEREC_DATABASE_URL", "CINEREC_REDIS_URL"} <= names
    assert_settings(names, "cinerec.env.example")


@pytest.mark.parametrize("words, real", [
    (["cinerec", "serve"], True), (["/opt/cinerec/.venv/bin/cinerec", "serve", "--port", "9000"], True),
    (["cinerec", "models", "list"], True), (["cinerec", "no-such-command"], False), (["cinerec", "models"], False),
    (["gunicorn", "app"], False),
])
def test_command_check_tells_real_from_made_up(words: list[str], real: bool) -> None:
    assert is_cinerec_command(words) is real
