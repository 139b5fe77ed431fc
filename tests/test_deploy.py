"""The container image and compose.yaml, tested as far as a machine without base images allows.

- ``deploy/entrypoint.sh``, what the image runs, runs here on the host with the image's
  environment (read from the Dockerfile) and production settings, its secrets given as files:
  on a fresh database it migrates, serves ``/healthz`` and ``/readyz``, and stops cleanly on
  SIGTERM. On SQLite it serves one worker on the in-memory broadcast; on PostgreSQL (when
  ``LOGISTICS_TEST_DATABASE_URL`` is set) two workers over Redis, as the image does.
- ``compose.yaml`` is checked for what the deployment relies on (one migration before two
  replicas, shared uploads, health checks, secrets only as files, a valid production
  configuration), and by ``docker compose config`` as well wherever Docker has compose.
- The Dockerfile is read for its stages, user, health check and entrypoint; ``.dockerignore``
  for what reaches the build; and the wheel the image installs is built from exactly what the
  builder stage copies, offline, to show it carries every file of the package.
"""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from cryptography.fernet import Fernet
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from logistics import cli
from logistics.config import Settings
from tests.conftest import PG_URL, requires_postgres
from tests.process_helpers import REDIS_URL
from tests.realtime_helpers import free_port

ROOT = Path(__file__).resolve().parent.parent
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"
# Bounds on waiting for a child, never measures.
START_S = 60.0
STOP_S = 45.0
SECRET_NAMES = re.compile(r"SECRET|PASSWORD|KEY|TOKEN")


# --- the Dockerfile, read as instructions -------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str


def dockerfile() -> list[Instruction]:
    """The instructions, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    parsed = []
    for line in logical:
        keyword, _, args = line.strip().partition(" ")
        parsed.append(Instruction(keyword.upper(), args.strip()))
    return parsed


def stages() -> list[list[Instruction]]:
    """Each stage's instructions, its FROM first, with global ARG defaults put into FROM."""
    args: dict[str, str] = {}
    result: list[list[Instruction]] = []
    for step in dockerfile():
        if step.keyword == "ARG" and not result:
            name, _, default = step.args.partition("=")
            args[name] = default
        elif step.keyword == "FROM":
            resolved = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], step.args)
            result.append([Instruction("FROM", resolved)])
        elif result:
            result[-1].append(step)
    return result


def image_environment() -> dict[str, str]:
    """The ENV the runtime stage sets: what every container of the image starts with."""
    env: dict[str, str] = {}
    for step in stages()[-1]:
        if step.keyword == "ENV":
            for pair in shlex.split(step.args):
                name, _, value = pair.partition("=")
                env[name] = value
    return env


# --- running the entrypoint on the host ----------------------------------------------------


def _run_sql(url: str, work: Any, *, autocommit: bool = False) -> Any:
    async def go() -> Any:
        options = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
        engine = create_async_engine(url, **options)
        try:
            async with engine.connect() as conn:
                return await conn.run_sync(work)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(cli.alembic_config("sqlite://")).get_current_head()


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[str]:
    """A database nobody has touched: a new SQLite file, or a new database on the PostgreSQL
    server under test (dropped afterwards), so the shared test database keeps its shape."""
    if PG_URL is None:
        yield f"sqlite+aiosqlite:///{tmp_path / 'deploy.db'}"
        return
    name = f"logistics_deploy_{uuid.uuid4().hex[:12]}"
    _run_sql(PG_URL, lambda conn: conn.execute(text(f'CREATE DATABASE "{name}"')), autocommit=True)
    try:
        yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        _run_sql(
            PG_URL, lambda conn: conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)')), autocommit=True
        )


def write_secrets(directory: Path) -> dict[str, Path]:
    """Fresh production secrets as files, the way compose and Kubernetes hand them over."""
    directory.mkdir(parents=True, exist_ok=True)
    values = {
        "jwt_secret": secrets.token_urlsafe(48),
        "encryption_key": Fernet.generate_key().decode(),
        "postgres_password": secrets.token_urlsafe(24),
    }
    files = {}
    for name, value in values.items():
        files[name] = directory / name
        files[name].write_text(value + "\n")
    return files


def host_environment(tmp_path: Path, database_url: str, **extra: str) -> dict[str, str]:
    """The image's environment on this host: the Dockerfile's ENV, then what a container is
    given (the database, the broker, its secrets as files), then what differs on a host: a free
    port and a writable storage directory. Nothing of the test run's own settings leaks in."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LOGISTICS_", "PG")) and key != "PORT"
    }
    env.update(image_environment())
    postgres = database_url.startswith("postgresql")
    files = write_secrets(tmp_path / "secrets")
    env.update(
        {
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
            "LOGISTICS_DATABASE_URL": database_url,
            # Several workers need a shared broker; on SQLite the server runs one, on its own.
            "LOGISTICS_BROADCAST_URL": REDIS_URL if postgres else "memory://",
            "LOGISTICS_WORKERS": env["LOGISTICS_WORKERS"] if postgres else "1",
            "LOGISTICS_JWT_SECRET_FILE": str(files["jwt_secret"]),
            "LOGISTICS_ENCRYPTION_KEY_FILE": str(files["encryption_key"]),
            "LOGISTICS_STORAGE_DIR": str(tmp_path / "storage"),
            # As compose.yaml runs it: one JSON object a line, for a log collector.
            "LOGISTICS_LOG_FORMAT": "json",
            "PORT": str(free_port()),
        }
    )
    env.update(extra)
    return env


def entrypoint(env: dict[str, str], cwd: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(  # noqa: S603  (our own script, a fixed argv)
            [str(ENTRYPOINT), *args], env=env, cwd=cwd, stdout=out, stderr=subprocess.STDOUT
        )


def wait_ready(process: subprocess.Popen[bytes], base: str, log: Path) -> httpx.Response:
    deadline = time.monotonic() + START_S
    while True:
        assert process.poll() is None, f"the server exited ({process.returncode}):\n{log.read_text()}"
        try:
            ready = httpx.get(f"{base}/readyz", timeout=2)
            if ready.status_code == 200:
                return ready
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"the server did not become ready:\n{log.read_text()}"
        time.sleep(0.2)


def command_line(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    return [part.decode() for part in raw.split(b"\0") if part]


@pytest.mark.parametrize(
    "migrate_first",
    [
        pytest.param(True, id="compose: the migrate service, then replicas that do not migrate"),
        pytest.param(False, id="one container: serve migrates on start"),
    ],
)
def test_the_image_entrypoint_migrates_serves_and_stops_cleanly_on_sigterm(
    fresh_database: str, tmp_path: Path, migrate_first: bool
) -> None:
    log = tmp_path / "entrypoint.log"
    env = host_environment(tmp_path, fresh_database)
    base = f"http://127.0.0.1:{env['PORT']}"
    workers = int(env["LOGISTICS_WORKERS"])

    if migrate_first:
        # Given the one-shot migration compose runs before any replica
        migration = entrypoint(env, tmp_path, "migrate", log=log)
        assert migration.wait(timeout=START_S) == 0, log.read_text()
        assert _run_sql(fresh_database, _revision) == head_revision()
        env["LOGISTICS_MIGRATE_ON_START"] = "false"

    # When the image's command runs (on loopback: arguments after the mode reach the server)
    server = entrypoint(env, tmp_path, "serve", "--host", "127.0.0.1", log=log)
    try:
        ready = wait_ready(server, base, log)

        # Then it serves in production, with the secrets it read from their files
        assert "Logistics (production)" in log.read_text()
        assert httpx.get(f"{base}/healthz", timeout=5).json() == {"status": "ok"}
        checks = ready.json()["checks"]
        assert checks["database"] == "ok"
        if workers > 1:
            assert checks["broker"] == "ok"
        # on a database at the newest migration
        assert _run_sql(fresh_database, _revision) == head_revision()
        # and the script's PID is the server itself (exec), so signals reach uvicorn directly
        argv = command_line(server.pid)
        assert Path(argv[1]).name == "logistics" and argv[2] == "serve", argv
        assert "--workers" in argv and argv[argv.index("--workers") + 1] == str(workers)

        # When the container is stopped
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=STOP_S)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(timeout=STOP_S)

    # Then every worker drained and ran the app's shutdown, and the server exited 0, as a
    # service manager expects of a clean stop
    output = log.read_text()
    assert output.count("Application shutdown complete") == workers, output
    assert code == 0, (code, output)


def test_the_entrypoint_execs_the_server_with_the_image_settings(tmp_path: Path) -> None:
    """The argv the entrypoint builds, read from a stand-in ``logistics`` that prints its own
    PID: equal to the script's, it shows the script became the command (exec)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in = bin_dir / "logistics"
    stand_in.write_text('#!/bin/sh\necho "$$ $*"\n')
    stand_in.chmod(0o755)
    base = {"PATH": f"{bin_dir}{os.pathsep}/usr/bin:/bin"}

    def run(*args: str, **env: str) -> tuple[int, str]:
        process = subprocess.Popen(  # noqa: S603
            [str(ENTRYPOINT), *args], env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        out, _ = process.communicate(timeout=STOP_S)
        pid, _, argv = out.decode().strip().partition(" ")
        assert process.returncode != 0 or pid == str(process.pid), out
        return process.returncode, argv

    # The image's default: migrate on start, all interfaces, port 8000, two workers
    assert run() == (0, "serve --host 0.0.0.0 --port 8000 --workers 2 --migrate")
    # compose's replicas: no migration; the port and workers from the environment; more
    # arguments after the mode, placed last so that they win
    assert run(
        "serve", "--no-access-log", PORT="9000", LOGISTICS_WORKERS="4", LOGISTICS_MIGRATE_ON_START="false"
    ) == (0, "serve --host 0.0.0.0 --port 9000 --workers 4 --no-migrate --no-access-log")
    assert run("migrate") == (0, "migrate")
    # Any other command runs as given (a token for an operator, a shell)
    assert run("logistics", "token", "--sub", "ops-1") == (0, "token --sub ops-1")
    code, output = run("serve", LOGISTICS_MIGRATE_ON_START="maybe")
    assert code == 2 and "LOGISTICS_MIGRATE_ON_START" in output


def test_secret_files_become_settings_and_an_ambiguous_secret_is_refused(tmp_path: Path) -> None:
    files = write_secrets(tmp_path)
    show = [
        "sh",
        "-c",
        'printf "%s|%s|%s" "$LOGISTICS_JWT_SECRET" "$PGPASSWORD" "${LOGISTICS_JWT_SECRET_FILE-}"',
    ]
    env = {
        "PATH": "/usr/bin:/bin",
        "LOGISTICS_JWT_SECRET_FILE": str(files["jwt_secret"]),
        "PGPASSWORD_FILE": str(files["postgres_password"]),
    }
    shown = subprocess.run([str(ENTRYPOINT), *show], env=env, capture_output=True, text=True, check=True)  # noqa: S603
    jwt_secret = files["jwt_secret"].read_text().strip()
    password = files["postgres_password"].read_text().strip()
    # The value without its trailing newline, and the _FILE variable gone
    assert shown.stdout == f"{jwt_secret}|{password}|"

    both = subprocess.run(  # noqa: S603
        [str(ENTRYPOINT), "true"],
        env={**env, "LOGISTICS_JWT_SECRET": "x" * 40},
        capture_output=True,
        text=True,
    )
    assert both.returncode == 2 and "both LOGISTICS_JWT_SECRET and" in both.stderr
    unreadable = subprocess.run(  # noqa: S603
        [str(ENTRYPOINT), "true"],
        env={**env, "LOGISTICS_JWT_SECRET_FILE": str(tmp_path / "missing")},
        capture_output=True,
        text=True,
    )
    assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr


def test_serve_migrates_unless_told_not_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOGISTICS_BROADCAST_URL", "memory://")
    # serve sets it for tracking links; setting it here lets monkeypatch take it away after.
    monkeypatch.setenv("LOGISTICS_PUBLIC_URL", "http://127.0.0.1:8000")
    monkeypatch.setattr("logistics.shutdown.serve", lambda _config: 0)

    untouched = tmp_path / "replica.db"
    monkeypatch.setenv("LOGISTICS_DATABASE_URL", f"sqlite+aiosqlite:///{untouched}")
    assert cli.main(["serve", "--no-migrate"]) == 0
    assert _run_sql(f"sqlite+aiosqlite:///{untouched}", _revision) is None

    migrated = tmp_path / "single.db"
    monkeypatch.setenv("LOGISTICS_DATABASE_URL", f"sqlite+aiosqlite:///{migrated}")
    assert cli.main(["serve"]) == 0
    assert _run_sql(f"sqlite+aiosqlite:///{migrated}", _revision) == head_revision()


# --- compose.yaml ----------------------------------------------------------------------------


@requires_postgres
def test_replicas_migrating_at_once_wait_for_each_other(fresh_database: str, tmp_path: Path) -> None:
    # Three replicas started together, each migrating on start, on an empty database
    env = {**os.environ, "LOGISTICS_DATABASE_URL": fresh_database}
    migrations = [
        subprocess.Popen(
            [sys.executable, "-m", "logistics.cli", "migrate"], env=env, cwd=tmp_path, stderr=subprocess.PIPE
        )
        for _ in range(3)
    ]
    # Every one succeeds (none trips over the tables another is creating) and the schema is at head
    outcomes = [
        (process.wait(timeout=120), process.stderr.read() if process.stderr else b"")
        for process in migrations
    ]
    assert [code for code, _ in outcomes] == [0, 0, 0], outcomes
    assert _run_sql(fresh_database, _revision) == head_revision()


def interpolate(value: Any) -> Any:
    """compose's ``${NAME:-default}`` with every default taken, so the check is the same
    wherever it runs."""
    if isinstance(value, str):
        return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", value)
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    return value


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(float(n) * units[u] for n, u in parts)


def published_ports(spec: str) -> tuple[list[int], int]:
    """(host ports, container port) of a short-syntax mapping such as ``127.0.0.1:8001-8002:8000``."""
    host, _, container = spec.rpartition(":")
    ports = host.rpartition(":")[2]
    first, _, last = ports.partition("-")
    return list(range(int(first), int(last or first) + 1)), int(container)


def test_compose_runs_one_migration_before_two_replicas_with_secrets_only_as_files(tmp_path: Path) -> None:
    compose = interpolate(yaml.safe_load(COMPOSE.read_text()))
    services = compose["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "app"}
    app, migrate = services["app"], services["migrate"]

    # The migration runs once, on a healthy database; the replicas start after it succeeded
    assert migrate["command"] == ["migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate.get("deploy", {}).get("replicas", 1) == 1
    assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert app["depends_on"]["redis"]["condition"] == "service_healthy"
    assert app["environment"]["LOGISTICS_MIGRATE_ON_START"] == "false"
    assert migrate["image"] == app["image"]

    # Two replicas, each published on its own host port, sharing one uploads volume
    replicas = app["deploy"]["replicas"]
    assert replicas == 2
    env = app["environment"]
    (ports,) = app["ports"]
    host_ports, container_port = published_ports(ports)
    assert len(host_ports) == replicas
    assert container_port == int(image_environment()["PORT"])
    storage = env["LOGISTICS_STORAGE_DIR"]
    volume = next(v for v in app["volumes"] if v.split(":")[1] == storage)
    assert volume.split(":")[0] in compose["volumes"], "uploads must be on a named volume all replicas share"
    assert services["postgres"]["volumes"][0].split(":")[0] in compose["volumes"]

    # Health checks everywhere a dependency waits, and a grace period longer than the drain
    for name in ("postgres", "redis", "app"):
        assert services[name]["healthcheck"]["test"], name
    assert "/healthz" in " ".join(app["healthcheck"]["test"])
    assert seconds(app["stop_grace_period"]) >= 30

    # Several processes: PostgreSQL and a shared broker
    database = make_url(env["LOGISTICS_DATABASE_URL"])
    assert database.get_backend_name() == "postgresql" and database.host == "postgres"
    assert env["LOGISTICS_BROADCAST_URL"].startswith("redis://redis:")

    # Secrets only as files: no secret-named variable holds a value, the URL holds no password
    assert database.password is None
    for name, service in services.items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAMES.search(key):
                assert key.endswith("_FILE"), f"{name}: {key} holds a secret in plain text"
                secret = value.removeprefix("/run/secrets/")
                assert secret in service["secrets"] and "file" in compose["secrets"][secret], (name, key)

    # And what the replicas are given is a configuration production accepts
    files = write_secrets(tmp_path / "secrets")
    settings: dict[str, Any] = {}
    for key, value in env.items():
        if key.startswith("LOGISTICS_") and key.endswith("_FILE"):
            key, value = (
                key.removesuffix("_FILE"),
                files[value.removeprefix("/run/secrets/")].read_text().strip(),
            )
        if key.startswith("LOGISTICS_") and key.removeprefix("LOGISTICS_").lower() in Settings.model_fields:
            settings[key.removeprefix("LOGISTICS_").lower()] = value
    Settings(_env_file=None, **settings).check_production()

    # Where Docker has compose, it accepts the file too (without a daemon: config only reads)
    docker = shutil.which("docker")
    has_compose = (
        docker is not None
        and subprocess.run(  # noqa: S603
            [docker, "compose", "version"], capture_output=True, check=False
        ).returncode
        == 0
    )
    if docker is not None and has_compose:
        checked = subprocess.run(  # noqa: S603
            [docker, "compose", "--file", str(COMPOSE), "config", "--quiet"],
            cwd=ROOT,
            env={**os.environ, "LOGISTICS_SECRETS_DIR": str(tmp_path / "secrets")},
            capture_output=True,
            text=True,
            check=False,
        )
        assert checked.returncode == 0, checked.stderr


# --- the Dockerfile, .dockerignore and the wheel ---------------------------------------------


def test_the_image_builds_in_two_stages_and_runs_unprivileged_with_a_health_check() -> None:
    builder, runtime = stages()
    assert builder[0].args.split() == ["python:3.11-slim", "AS", "builder"]
    assert runtime[0].args.split()[0] == "python:3.11-slim"

    # The builder makes wheels; the runtime installs only those, offline, and no compiler
    assert any(s.keyword == "RUN" and "pip wheel --wheel-dir /wheels" in s.args for s in builder)
    runs = " ".join(s.args for s in runtime if s.keyword == "RUN")
    assert "from=builder" in runs and "pip install --no-index --find-links=/wheels" in runs
    assert not re.search(r"apt-get|gcc|build-essential", runs)

    # The user is set in the stage that runs (after the last FROM), and is not root
    users = [s.args for s in runtime if s.keyword == "USER"]
    assert users, "the runtime stage must set a USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and user == "10001"
    assert "--uid 10001" in runs
    env = image_environment()
    assert env["LOGISTICS_ENV"] == "production"
    volumes = " ".join(s.args for s in runtime if s.keyword == "VOLUME")
    assert env["LOGISTICS_STORAGE_DIR"] in volumes
    assert f"chown 10001:10001 {env['LOGISTICS_STORAGE_DIR']}" in runs
    assert [s.args for s in runtime if s.keyword == "EXPOSE"] == [env["PORT"]]

    # The health check asks /healthz with what the slim image has (Python, not curl)
    (health,) = [s.args for s in runtime if s.keyword == "HEALTHCHECK"]
    assert "/healthz" in health and '"python"' in health and "curl" not in health

    # The entrypoint is the script under test, copied executable to where PATH finds it
    (entry,) = [s.args for s in runtime if s.keyword == "ENTRYPOINT"]
    copies = [s.args.split() for s in runtime if s.keyword == "COPY"]
    script = next(c for c in copies if "deploy/entrypoint.sh" in c)
    assert "--chmod=0755" in script and script[-1] == "/usr/local/bin/" + entry.strip('[]"')
    assert os.access(ENTRYPOINT, os.X_OK)


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's reading of .dockerignore: the last pattern matching the path or one of its
    parent directories decides, and ``**/`` matches any depth, none included."""
    verdict = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        negated = pattern.startswith("!")
        pattern = pattern.removeprefix("!").rstrip("/")
        shapes = {pattern, pattern.removeprefix("**/")} if pattern.startswith("**/") else {pattern}
        for prefix in prefixes:
            names = {prefix, prefix.rpartition("/")[2]} if pattern.startswith("**/") else {prefix}
            if any(fnmatch.fnmatchcase(name, shape) for name in names for shape in shapes):
                verdict = not negated
                break
    return verdict


def test_the_build_context_holds_what_the_dockerfile_copies_and_no_local_state() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = [
        s.args.split()[-2]
        for stage in stages()
        for s in stage
        if s.keyword == "COPY" and "--from" not in s.args
    ]
    for source in [*copied, "logistics/cli.py", "logistics/migrations/versions/0001_initial.py"]:
        assert not ignored(source, patterns), source
    for local in (
        ".venv/bin/python",
        ".git/config",
        ".env",
        "deploy/.env",
        "deploy/secrets/jwt_secret",
        "logistics.db",
        "storage/ab/cd/abcd",
        "logistics/__pycache__/cli.cpython-311.pyc",
        "tests/conftest.py",
        "docs/screenshots/ops.png",
    ):
        assert ignored(local, patterns), local


def test_the_wheel_the_image_installs_carries_every_file_of_the_package(tmp_path: Path) -> None:
    """Built offline from exactly what the builder stage copies: a file the package data misses
    would be missing from the image, while every editable development install still has it."""
    source = tmp_path / "src"
    builder = stages()[0]
    for step in builder:
        if step.keyword == "COPY":
            what, where = step.args.split()[-2:]
            target = source / where
            if where.endswith("/"):
                target /= Path(what).name
            if (ROOT / what).is_dir():
                shutil.copytree(ROOT / what, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / what, target)
    pip = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    built = subprocess.run(  # noqa: S603
        [*pip, "--quiet", "--wheel-dir", str(tmp_path / "wheels"), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = (tmp_path / "wheels").glob("logistics-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    package = {
        path.relative_to(source).as_posix() for path in (source / "logistics").rglob("*") if path.is_file()
    }
    assert package - names == set()
    assert "logistics = logistics.cli:main" in entry_points
