"""The Docker deployment files agree with each other and with the settings class.

Nothing here needs Docker: the files are parsed and cross-checked, so a renamed
setting, a port changed in one place only or a secret left in ``.env.example``
fails the suite instead of a deployment.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import yaml
from sqlalchemy.engine import make_url
from starlette.routing import Route

from messenger.config import Settings, async_database_url
from messenger.scheduling.dispatcher import Dispatcher
from messenger.services.notes import NOTE_PATH
from messenger.web.telegram_webhook import WEBHOOK_PATH
from messenger.web.webhooks import WebhookDeps, webhook_routes

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = REPO / "Dockerfile"
COMPOSE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERIGNORE = REPO / ".dockerignore"
GITIGNORE = REPO / ".gitignore"

ENV_PREFIX = "MESSENGER_"
TELEGRAM_TOKEN = re.compile(r"\d+:[A-Za-z0-9_-]{30,}")
MESSENGER_VARIABLE = re.compile(rf"\b{ENV_PREFIX}[A-Z0-9_]+\b")
# NAME=value, or "# NAME=value" for a setting shown at its default (or with an example).
ENV_ASSIGNMENT = re.compile(r"^(?P<commented>#\s*)?(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")
# ${NAME}, ${NAME:-default}, ${NAME:?message}; $${...} is escaped.
COMPOSE_VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
SECRET_NAME = re.compile(r"TOKEN|PASSWORD|SECRET|API_KEY")


# ----------------------------------------------------------------------------- parsing


def _compose_text() -> str:
    return COMPOSE.read_text(encoding="utf-8")


def _env_example_text() -> str:
    return ENV_EXAMPLE.read_text(encoding="utf-8")


def _dockerfile_text() -> str:
    return DOCKERFILE.read_text(encoding="utf-8")


def settings_env_names() -> dict[str, str]:
    """Environment variable name -> Settings field name."""
    return {ENV_PREFIX + field.upper(): field for field in Settings.model_fields}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in _dockerfile_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        keyword, _, arguments = line.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    assert not pending, "Dockerfile ends with a line continuation"
    return instructions


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def stage_values(keyword: str) -> list[str]:
    return [arguments for kw, arguments in final_stage() if kw == keyword]


def dockerfile_env() -> dict[str, str]:
    """ENV values of the final stage (``ENV A=1 B=2`` form)."""
    env: dict[str, str] = {}
    for arguments in stage_values("ENV"):
        for item in re.findall(r'([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)', arguments):
            env[item[0]] = item[1].strip('"')
    return env


def exposed_ports() -> set[int]:
    ports = (port for arguments in stage_values("EXPOSE") for port in arguments.split())
    return {int(port.split("/")[0]) for port in ports}


def healthcheck_port() -> int:
    (healthcheck,) = stage_values("HEALTHCHECK")
    match = re.search(r"https?://[^/\s'\"]+:(\d+)/healthz", healthcheck)
    assert match, f"HEALTHCHECK does not request /healthz on an explicit port: {healthcheck}"
    return int(match.group(1))


def compose() -> dict[str, Any]:
    return yaml.safe_load(_compose_text())


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def service_environment(name: str) -> dict[str, str]:
    environment = service(name).get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) for item in environment)
    return {key: str(value) for key, value in environment.items()}


def published_container_ports(name: str) -> set[int]:
    ports: set[int] = set()
    for entry in service(name).get("ports", []):
        if isinstance(entry, dict):
            ports.add(int(entry["target"]))
        else:
            ports.add(int(str(entry).rsplit(":", 1)[-1].split("/")[0]))
    return ports


def env_example() -> tuple[dict[str, str], dict[str, str]]:
    """(active assignments, commented-out assignments) of ``.env.example``."""
    active: dict[str, str] = {}
    commented: dict[str, str] = {}
    for line in _env_example_text().splitlines():
        match = ENV_ASSIGNMENT.match(line.strip())
        if match:
            target = commented if match["commented"] else active
            target[match["name"]] = match["value"].strip()
    return active, commented


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Expand ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?message}`` as docker compose does."""

    def substitute(match: re.Match[str]) -> str:
        current = variables.get(match["name"])
        if match["op"] in (":-", "-") and not current:
            return match["arg"]
        if match["op"] in (":?", "?") and not current:
            raise ValueError(f"{match['name']}: {match['arg']}")
        return current or ""

    return COMPOSE_VARIABLE.sub(substitute, value).replace("$$", "$")


def dockerignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def _docker_pattern(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern as a regex: ``*`` stays within a directory, ``**`` spans any."""
    regex, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            regex, i = regex + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            regex, i = regex + ".*", i + 2
        elif pattern[i] == "*":
            regex, i = regex + "[^/]*", i + 1
        elif pattern[i] == "?":
            regex, i = regex + "[^/]", i + 1
        elif pattern[i] == "[" and "]" in pattern[i:]:
            end = pattern.index("]", i)
            regex, i = regex + pattern[i : end + 1], end + 1
        else:
            regex, i = regex + re.escape(pattern[i]), i + 1
    return re.compile(regex)


def dockerignored(path: str) -> bool:
    """Whether the build context leaves ``path`` out.

    The last matching pattern wins and ``!`` re-includes, as in Docker.
    """
    parts = path.split("/")
    # A pattern matching a directory excludes everything below it.
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in dockerignore_patterns():
        negated = pattern.startswith("!")
        regex = _docker_pattern(pattern.removeprefix("!").strip("/"))
        if any(regex.fullmatch(prefix) for prefix in prefixes):
            ignored = not negated
    return ignored


def in_git_checkout() -> bool:
    return shutil.which("git") is not None and (REPO / ".git").exists()


def git_ignores(path: str) -> bool:
    """Whether git ignores ``path``: asks git in a checkout, else reads ``.gitignore``."""
    if in_git_checkout():
        result = subprocess.run(
            ["git", "-C", str(REPO), "check-ignore", "-q", "--no-index", "--", path],
            capture_output=True,
            check=False,
        )
        assert result.returncode in (0, 1), result.stderr
        return result.returncode == 0
    ignored = False
    for line in GITIGNORE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negated = line.startswith("!")
            if fnmatch.fnmatchcase(path, line.removeprefix("!").lstrip("/")):
                ignored = not negated
    return ignored


# ----------------------------------------------------------------------------- compose


def _words(command: str | list[str]) -> list[str]:
    return (command if isinstance(command, str) else " ".join(command)).split()


@pytest.mark.parametrize("name", [pytest.param("db", id="db"), pytest.param("bot", id="bot")])
def test_compose_service_exists(name: str) -> None:
    assert name in compose()["services"]


def test_db_runs_postgres_15_on_a_named_volume() -> None:
    db = service("db")
    assert db["image"] == "postgres:15"
    mounts = [str(v).partition(":")[::2] for v in db.get("volumes", [])]
    volume = next((src for src, target in mounts if target == "/var/lib/postgresql/data"), None)
    assert volume, "nothing mounted on /var/lib/postgresql/data"
    declared = compose().get("volumes") or {}
    assert volume in declared, f"volume {volume!r} is not declared at the top level"


@pytest.mark.parametrize(
    ("key", "check"),
    [
        pytest.param(
            "test",
            lambda v: {"pg_isready", "-U", "-d"} <= set(_words(v)),
            id="pg_isready",
        ),
        pytest.param("interval", bool, id="interval"),
        pytest.param("timeout", bool, id="timeout"),
        pytest.param("retries", lambda v: int(v) > 0, id="retries"),
    ],
)
def test_db_healthcheck(key: str, check: Callable[[Any], bool]) -> None:
    healthcheck = service("db").get("healthcheck") or {}
    assert key in healthcheck, f"db healthcheck has no {key!r}"
    assert check(healthcheck[key]), f"db healthcheck {key}: {healthcheck[key]!r}"


@pytest.mark.parametrize("variable", ["POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"])
def test_db_credentials_come_from_env_file(variable: str) -> None:
    value = service_environment("db").get(variable, "")
    assert re.fullmatch(rf"\$\{{{variable}(:?[-?][^}}]*)?\}}", value), f"{variable}: {value!r}"


def test_bot_waits_for_a_healthy_db() -> None:
    depends_on = service("bot").get("depends_on")
    assert isinstance(depends_on, dict), "depends_on must use the long form to carry a condition"
    assert depends_on["db"]["condition"] == "service_healthy"


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        pytest.param("build", ".", id="built-from-repo"),
        pytest.param("env_file", ".env", id="reads-env-file"),
        pytest.param("restart", "unless-stopped", id="restarts"),
    ],
)
def test_bot_service(key: str, expected: str) -> None:
    value = service("bot").get(key)
    values = value if isinstance(value, list) else [value]
    values = [v.get("path", v.get("context")) if isinstance(v, dict) else v for v in values]
    assert expected in values, f"bot {key}: {value!r}"


def test_bot_database_url_points_at_db_service() -> None:
    # Distinct values per variable, so swapping two of them in the URL is caught.
    variables = {
        "POSTGRES_USER": "the_user",
        "POSTGRES_PASSWORD": "the_password",
        "POSTGRES_DB": "the_db",
    }
    db = {name: interpolate(value, variables) for name, value in service_environment("db").items()}
    url = make_url(interpolate(service_environment("bot")["MESSENGER_DATABASE_URL"], variables))
    assert url.get_backend_name() == "postgresql"
    assert (url.host, url.port) == ("db", 5432)
    assert (url.username, url.password, url.database) == (
        db["POSTGRES_USER"],
        db["POSTGRES_PASSWORD"],
        db["POSTGRES_DB"],
    )
    driver_url = async_database_url(url.render_as_string(hide_password=False))
    assert driver_url.startswith("postgresql+asyncpg://")


def test_compose_variables_are_defined_in_env_example() -> None:
    active, commented = env_example()
    used = {match["name"] for match in COMPOSE_VARIABLE.finditer(_compose_text())}
    assert used, "no ${...} interpolation found in docker-compose.yml"
    assert used - active.keys() - commented.keys() == set()


# ----------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    "read",
    [
        pytest.param(_compose_text, id="docker-compose.yml"),
        pytest.param(_env_example_text, id=".env.example"),
        pytest.param(_dockerfile_text, id="Dockerfile"),
    ],
)
def test_messenger_variables_are_settings(read: Callable[[], str]) -> None:
    named = set(MESSENGER_VARIABLE.findall(read()))
    assert named, "no MESSENGER_* variable found"
    assert named - settings_env_names().keys() == set(), "not fields of messenger.config.Settings"


def test_every_setting_is_in_env_example() -> None:
    active, commented = env_example()
    missing = settings_env_names().keys() - active.keys() - commented.keys()
    assert missing == set(), f"settings missing from .env.example: {sorted(missing)}"


def test_every_env_example_variable_has_a_comment() -> None:
    lines = _env_example_text().splitlines()
    for number, line in enumerate(lines):
        match = ENV_ASSIGNMENT.match(line.strip())
        if not match:
            continue
        before = [previous.strip() for previous in reversed(lines[:number])]
        block = next((b for b in before if not ENV_ASSIGNMENT.match(b)), "")
        is_comment = block.startswith("#") and not block.startswith("# ---")  # not a section rule
        assert is_comment, f"{match['name']} has no comment"


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray .env file
    return monkeypatch


def test_env_example_values_are_accepted(clean_environment: pytest.MonkeyPatch) -> None:
    active, _ = env_example()
    for name, value in active.items():
        if name.startswith(ENV_PREFIX):
            clean_environment.setenv(name, value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.telegram_token is None  # empty: no token shipped


def test_commented_settings_show_the_defaults(clean_environment: pytest.MonkeyPatch) -> None:
    _, commented = env_example()
    fields = settings_env_names()
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    checked = 0
    for name, value in commented.items():
        field = fields.get(name)
        if field is None or getattr(defaults, field) is None:
            continue  # optional setting: the value is an example
        clean_environment.setenv(name, value)
        shown = Settings(_env_file=None)  # type: ignore[call-arg]
        assert getattr(shown, field) == getattr(defaults, field), name
        clean_environment.delenv(name)
        checked += 1
    assert checked, "no commented-out default found"


# ----------------------------------------------------------------------------- Dockerfile


def test_base_image() -> None:
    bases = [args.split()[0] for keyword, args in dockerfile_instructions() if keyword == "FROM"]
    assert bases and all(base == "python:3.11-slim" for base in bases), bases


def test_installs_the_locked_dependencies_then_the_package_alone() -> None:
    runs = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "RUN"]
    locked = next(i for i, run in enumerate(runs) if "--require-hashes -r requirements.lock" in run)
    package = next(i for i, run in enumerate(runs) if re.search(r"pip install --no-cache-dir --no-deps \.(\s|$)", run))
    assert locked < package, runs
    copies = [arguments for keyword, arguments in dockerfile_instructions() if keyword == "COPY"]
    assert "requirements.lock ." in copies, copies


def test_runs_as_a_numeric_non_root_user() -> None:
    users = stage_values("USER")
    assert users, "no USER in the final stage: the container would run as root"
    # Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
    match = re.fullmatch(r"(\d+):(\d+)", users[-1])
    assert match, f"USER {users[-1]!r} is not uid:gid"
    uid, gid = match.groups()
    assert uid != "0" and gid != "0", users[-1]
    runs = " ".join(arguments for keyword, arguments in final_stage() if keyword == "RUN")
    assert re.search(rf"useradd\b[^&;]*--uid {uid}\b[^&;]*--gid {gid}\b", runs), f"uid {uid} is never created"


def test_the_app_is_pid_1_and_migrates_itself() -> None:
    (cmd,) = stage_values("CMD")[-1:]
    # Exec form without a shell: SIGTERM from `docker stop` reaches the app, which shuts down gracefully.
    assert json.loads(cmd) == ["messenger", "run"]
    assert not stage_values("ENTRYPOINT")
    assert Settings.model_fields["auto_migrate"].default is True
    assert service_environment("bot").get("MESSENGER_AUTO_MIGRATE", "true").lower() == "true"


def test_stop_grace_period_outlasts_the_longest_send() -> None:
    grace = service("bot").get("stop_grace_period", "10s")
    match = re.fullmatch(r"(\d+)(s|m)", str(grace))
    assert match, f"stop_grace_period {grace!r}: write it as <n>s or <n>m"
    seconds = int(match[1]) * (60 if match[2] == "m" else 1)
    longest_send = inspect.signature(Dispatcher).parameters["send_timeout"].default
    assert seconds > longest_send + 10, f"{seconds}s leaves no time to finish a {longest_send}s send"


def test_published_ports_stay_on_this_machine() -> None:
    for entry in service("bot").get("ports", []):
        host_ip = entry.get("host_ip") if isinstance(entry, dict) else str(entry).split(":")[0]
        assert host_ip == "127.0.0.1", f"bot publishes {entry!r} beyond this machine (/metrics with it)"


def test_https_proxy_is_optional_and_passes_on_the_webhooks_only() -> None:
    proxy = service("https")
    assert proxy.get("profiles") == ["https"], "the proxy must only start when asked for"
    caddyfile = (REPO / "Caddyfile").read_text(encoding="utf-8")
    assert any(v.startswith("./Caddyfile:") for v in proxy.get("volumes", []))
    matcher = re.search(r"@webhooks path (.+)", caddyfile)
    assert matcher, caddyfile
    proxied = matcher[1].split()
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    routes = webhook_routes(cast(WebhookDeps, SimpleNamespace(settings=settings)))
    paths = {route.path for route in routes if isinstance(route, Route)}
    # What Telegram, patients' phones and staff browsers reach from outside.
    paths |= {WEBHOOK_PATH, f"{NOTE_PATH}{{token}}", "/dashboard/login/{token}", "/dashboard/patients"}
    for path in paths:
        assert any(fnmatch.fnmatchcase(path, pattern) for pattern in proxied), f"{path} is not proxied"
    for private in ("/metrics", "/healthz"):
        assert not any(fnmatch.fnmatchcase(private, pattern) for pattern in proxied), private
    assert re.search(r"handle \{\s*respond 404", caddyfile), "everything else must get 404"


def test_env_example_keeps_the_app_on_loopback() -> None:
    active, commented = env_example()
    assert active.get("MESSENGER_HTTP_HOST", commented.get("MESSENGER_HTTP_HOST")) == "127.0.0.1"


def test_env_example_leaves_the_clinic_to_be_set() -> None:
    active, _ = env_example()
    assert active["MESSENGER_CLINIC_NAME"] == active["MESSENGER_CLINIC_PHONE"] == ""


def test_license_is_the_one_the_package_declares() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
    assert (REPO / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")


def _normalised(name: str) -> str:
    """A distribution name as PEP 503 compares them: ``fhir.resources`` is ``fhir-resources``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement_name(requirement: str) -> str:
    return _normalised(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


def test_lock_pins_every_dependency_with_hashes() -> None:
    text = (REPO / "requirements.lock").read_text(encoding="utf-8")
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.MULTILINE))
    pinned = {_normalised(name) for name in pins}
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = {_requirement_name(requirement) for requirement in project["dependencies"]}
    assert wanted - pinned == set(), "pyproject dependencies missing from requirements.lock: regenerate it"
    for block in re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 3)[-1]):
        if "==" in block:
            assert "--hash=sha256:" in block, f"no hash for {block.splitlines()[0]}"


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else shutil.which(name) or pytest.skip(f"{name} is not installed")


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([_tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_healthcheck_uses_python_urllib() -> None:
    (healthcheck,) = stage_values("HEALTHCHECK")
    assert "python" in healthcheck and "urllib" in healthcheck, healthcheck


def _env_port(environment: dict[str, str]) -> set[int]:
    value = environment.get("MESSENGER_HTTP_PORT")
    return {int(value)} if value else set()


@pytest.mark.parametrize(
    ("where", "ports"),
    [
        pytest.param("Dockerfile EXPOSE", exposed_ports, id="expose"),
        pytest.param("Dockerfile HEALTHCHECK", lambda: {healthcheck_port()}, id="healthcheck"),
        # The app's listening port inside the container, in both places it is set.
        pytest.param(
            "Dockerfile ENV MESSENGER_HTTP_PORT",
            lambda: _env_port(dockerfile_env()),
            id="dockerfile-env",
        ),
        pytest.param(
            "compose bot environment MESSENGER_HTTP_PORT",
            lambda: _env_port(service_environment("bot")),
            id="compose-env",
        ),
    ],
)
def test_container_port_agrees(where: str, ports: Callable[[], set[int]]) -> None:
    published = published_container_ports("bot")
    assert len(published) == 1, f"bot publishes {published}"
    assert ports() == published, f"{where} {ports()} != published container port {published}"


@pytest.mark.parametrize(
    "environment",
    [
        pytest.param(dockerfile_env, id="dockerfile-env"),
        pytest.param(lambda: service_environment("bot"), id="compose-env"),
    ],
)
def test_container_listens_on_all_interfaces(environment: Callable[[], dict[str, str]]) -> None:
    # The settings default (127.0.0.1) would be unreachable from outside the container.
    assert environment().get("MESSENGER_HTTP_HOST") == "0.0.0.0"


def test_no_secrets_baked_into_image() -> None:
    for keyword, arguments in dockerfile_instructions():
        if keyword in {"ENV", "ARG"}:
            names = re.findall(r"([A-Za-z_][A-Za-z0-9_]*)(?==|\s|$)", arguments)
            assert not [n for n in names if SECRET_NAME.search(n)], f"{keyword} {arguments}"
        assert not TELEGRAM_TOKEN.search(arguments), f"{keyword} carries a token-like value"


# ----------------------------------------------------------------------------- secrets, context


@pytest.mark.parametrize(
    ("path", "ignored"),
    [pytest.param(".env", True, id=".env"), pytest.param(".env.example", False, id=".env.example")],
)
def test_git_ignore(path: str, ignored: bool) -> None:
    assert git_ignores(path) is ignored


def test_env_file_is_not_tracked() -> None:
    if not in_git_checkout():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "--", ".env"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert tracked.strip() == "", ".env is committed: untrack it and rotate its secrets"


def test_env_example_has_no_token() -> None:
    assert not TELEGRAM_TOKEN.search(_env_example_text())


def test_env_example_secrets_are_empty() -> None:
    active, commented = env_example()
    assignments = {**commented, **active}
    secrets = {name: value for name, value in assignments.items() if SECRET_NAME.search(name)}
    assert {"MESSENGER_TELEGRAM_TOKEN", "POSTGRES_PASSWORD"} <= secrets.keys()
    assert {name: value for name, value in secrets.items() if value} == {}


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        pytest.param(".env", True, id="env-file"),
        pytest.param(".git/config", True, id="git"),
        pytest.param(".venv/bin/python", True, id="venv"),
        pytest.param("messenger/__pycache__", True, id="pycache"),
        pytest.param("messenger.db", True, id="sqlite-db"),
        pytest.param("data/messenger.db", True, id="sqlite-db-nested"),
        pytest.param(".pytest_cache/README.md", True, id="pytest-cache"),
        pytest.param("pyproject.toml", False, id="pyproject"),
        pytest.param("messenger/config.py", False, id="package"),
        pytest.param("templates/en/x.j2", False, id="templates"),
    ],
)
def test_dockerignore(path: str, ignored: bool) -> None:
    assert dockerignored(path) is ignored


def test_build_context_has_the_readme_pip_install_needs() -> None:
    # hatchling refuses to build when the readme named in pyproject.toml is missing.
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    readme = project.get("readme")
    if isinstance(readme, dict):
        readme = readme.get("file")
    if readme is None:
        return
    assert (REPO / readme).is_file(), f"{readme} (pyproject readme) is missing: pip install . fails"
    assert not dockerignored(readme)
