"""A real, throwaway PostgreSQL server for the tests.

Production runs on PostgreSQL, so the storage tests run against the real thing
rather than an imitation: :class:`PostgresServer` runs ``initdb`` in a temporary
directory, starts the server on a free port of 127.0.0.1 with durability turned
off (this data is thrown away) and removes everything again on :meth:`stop`.

``initdb`` refuses to run as root. When the tests run as root (containers, CI)
the server runs as the ``postgres`` system account instead, in a directory
handed over to that account; otherwise the binaries run as the current user.

If ``MESSENGER_TEST_POSTGRES_URL`` is set (say, to a CI service container),
:func:`external_postgres_url` returns it and tests use that server instead of
starting their own.

Usage::

    with PostgresServer() as pg:
        url = pg.create_database("scheduling")   # postgresql://postgres@127.0.0.1:PORT/scheduling
        ...
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

EXTERNAL_URL_ENV = "MESSENGER_TEST_POSTGRES_URL"
SYSTEM_USER = "postgres"  # account that owns the server when we are root
SUPERUSER = "postgres"  # database superuser created by initdb

# Durability is pointless for a database that is deleted after the run.
SERVER_SETTINGS = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "listen_addresses": "'127.0.0.1'",
    "logging_collector": "off",
}

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_START_ATTEMPTS = 3  # a port picked as free can be taken before the server binds it


class PostgresError(RuntimeError):
    """The server could not be set up, started or queried."""


def external_postgres_url() -> str | None:
    """The server named by ``MESSENGER_TEST_POSTGRES_URL``, if the environment provides one."""
    url = os.environ.get(EXTERNAL_URL_ENV, "").strip()
    return url or None


def _version_key(path: str) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin/<name>
    version = Path(path).parent.parent.name
    return tuple(int(part) for part in re.findall(r"\d+", version)) or (0,)


def find_pg_bin(name: str) -> str:
    """Path of a PostgreSQL program: ``PATH`` first, then newest ``/usr/lib/postgresql/*/bin``."""
    found = shutil.which(name)
    if found:
        return found
    candidates = [path for path in glob.glob(f"/usr/lib/postgresql/*/bin/{name}") if os.access(path, os.X_OK)]
    if candidates:
        return max(candidates, key=_version_key)
    raise FileNotFoundError(
        f"PostgreSQL program {name!r} not found on PATH or under /usr/lib/postgresql/*/bin "
        f"(install the postgresql server package, or set {EXTERNAL_URL_ENV})"
    )


def _running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _system_account() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        return None


def postgres_available() -> bool:
    """Whether the tests can use a PostgreSQL: an external one, or binaries to start one."""
    return external_postgres_url() is not None or can_start_postgres()


def can_start_postgres() -> bool:
    """Whether :class:`PostgresServer` can run here (binaries installed, a non-root account)."""
    try:
        for program in ("initdb", "pg_ctl", "psql"):
            find_pg_bin(program)
    except FileNotFoundError:
        return False
    if _running_as_root():
        return _system_account() is not None and shutil.which("runuser") is not None
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env() -> dict[str, str]:
    # PGDATA, PGPORT, PGHOST … from the caller's shell must not redirect our commands.
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["LC_ALL"] = "C"
    return env


def _quote_ident(name: str) -> str:
    if not _NAME.match(name):
        raise ValueError(f"database name {name!r}: use letters, digits and underscores (max 63)")
    return f'"{name}"'


class PostgresServer:
    """A PostgreSQL cluster in a temporary directory, listening on 127.0.0.1."""

    def __init__(self, *, port: int | None = None) -> None:
        self._requested_port = port
        self.port: int | None = None
        self.directory: Path | None = None  # everything we create lives under here
        self.data_dir: Path | None = None
        self.log_file: Path | None = None
        self.pid: int | None = None  # the postmaster, once started
        self.startup_seconds: float | None = None
        self._as_root = _running_as_root()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self.pid is not None:
            raise PostgresError("server already started")
        began = time.perf_counter()
        self.directory = Path(tempfile.mkdtemp(prefix="messenger-pg-"))
        self.data_dir = self.directory / "data"
        self.log_file = self.directory / "server.log"
        atexit.register(self.stop)
        try:
            if self._as_root:
                account = _system_account()
                if account is None:
                    raise PostgresError(
                        f"running as root, which initdb refuses, and there is no {SYSTEM_USER!r} account to run it as"
                    )
                os.chown(self.directory, account.pw_uid, account.pw_gid)
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - began

    def stop(self) -> None:
        """Stop the server (fast, then immediate, then SIGKILL) and delete its directory."""
        if self.directory is None:
            return
        try:
            if self.data_dir is not None and (self.data_dir / "postmaster.pid").exists():
                for mode in ("fast", "immediate"):
                    result = self._run(
                        [find_pg_bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "15"],
                        check=False,
                    )
                    if result.returncode == 0:
                        break
            if self.pid is not None and _alive(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                _wait_gone(self.pid, timeout=5)
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = self.data_dir = self.log_file = None
            self.pid = self.port = None
            atexit.unregister(self.stop)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ databases

    @property
    def url(self) -> str:
        """URL of the default ``postgres`` database."""
        return self._url("postgres")

    def create_database(self, name: str) -> str:
        """Create database ``name``; return its URL as a user writes it (``postgresql://…``)."""
        self._psql(f"CREATE DATABASE {_quote_ident(name)}")
        return self._url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting any sessions still on it."""
        self._psql(f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)")

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run ``sql`` with psql and return its unaligned, tuples-only output."""
        return self._psql(sql, database=database)

    # ------------------------------------------------------------------ internals

    def _url(self, database: str) -> str:
        if self.port is None or self.pid is None:
            raise PostgresError("server not started")
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _command(self, args: list[str]) -> list[str]:
        # Server programs run as the postgres account when we are root.
        if self._as_root:
            return ["runuser", "-u", SYSTEM_USER, "--", *args]
        return args

    def _run(self, args: list[str], *, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            self._command(args),
            cwd=self.directory,
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise PostgresError(
                f"{Path(args[0]).name} failed (exit {result.returncode}):\n"
                f"{result.stdout}{result.stderr}{self._log_tail()}"
            )
        return result

    def _initdb(self) -> None:
        assert self.data_dir is not None
        self._run(
            [
                find_pg_bin("initdb"),
                "-D",
                str(self.data_dir),
                "-A",
                "trust",
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ]
        )
        settings = dict(SERVER_SETTINGS, unix_socket_directories=f"'{self.data_dir}'")
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# test server: speed over durability\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def _start_server(self) -> None:
        assert self.data_dir is not None and self.log_file is not None
        attempts = 1 if self._requested_port else _START_ATTEMPTS
        for attempt in range(1, attempts + 1):
            port = self._requested_port or _free_port()
            result = self._run(
                [
                    find_pg_bin("pg_ctl"),
                    "start",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.log_file),
                    "-o",
                    f"-p {port}",
                    "-w",
                    "-t",
                    "30",
                ],
                check=False,
            )
            if result.returncode == 0:
                self.port = port
                self.pid = self._read_pid()
                return
            address_taken = "could not bind" in self._log_tail() or "in use" in self._log_tail()
            if not address_taken or attempt == attempts:
                raise PostgresError(
                    f"pg_ctl start failed (exit {result.returncode}) on port {port}:\n"
                    f"{result.stdout}{result.stderr}{self._log_tail()}"
                )

    def _read_pid(self) -> int:
        assert self.data_dir is not None
        first_line = (self.data_dir / "postmaster.pid").read_text().splitlines()[0]
        return int(first_line.strip())

    def _psql(self, sql: str, *, database: str = "postgres") -> str:
        if self.port is None:
            raise PostgresError("server not started")
        result = subprocess.run(
            [
                find_pg_bin("psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                SUPERUSER,
                "-d",
                database,
                "-X",  # ignore ~/.psqlrc
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ],
            env=_clean_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if result.returncode != 0:
            raise PostgresError(f"psql failed: {sql}\n{result.stderr.strip()}\n{self._log_tail()}")
        return result.stdout.strip()

    def _log_tail(self, lines: int = 30) -> str:
        if self.log_file is None or not self.log_file.exists():
            return ""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.splitlines()[-lines:])
        return f"\n--- last lines of {self.log_file} ---\n{tail}" if tail else ""


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a running process (a zombie nobody has reaped yet counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        pass
    with contextlib.suppress(OSError):
        status = Path(f"/proc/{pid}/status").read_text()
        if re.search(r"^State:\s*Z", status, re.MULTILINE):
            return False
    return True


def _wait_gone(pid: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
