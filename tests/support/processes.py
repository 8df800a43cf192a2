"""Real processes for tests: a Celery worker, a gunicorn server, private Redis and PostgreSQL.

Private instances run on ports of their own; tests that stop or kill a service do it to these,
never to the machine's services. Every process is stopped by PID.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def wait_for(condition, timeout: float = 20.0, interval: float = 0.05):
    """Poll `condition()` until it returns something truthy (work done by another process)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def database_url(name: str | None = None) -> str:
    """A URL for the database the tests use right now (the test database once set up)."""
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "", safe="")
    password = quote(db.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{name or db['NAME']}"


def service_env(**overrides: str) -> dict[str, str]:
    """Environment for a subprocess that must see what this test process sees."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_"))}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "ISV_TESTING": "1",
            "DATABASE_URL": database_url(),
            "ISV_CELERY_QUEUE": settings.CELERY_TASK_DEFAULT_QUEUE,
            "KOOGALLERY_ACCESS_KEY": settings.KOOGALLERY_ACCESS_KEY,
            "KOOGALLERY_KIT_ACCESS_KEY": settings.KOOGALLERY_KIT_ACCESS_KEY,
            "KOOGALLERY_PREVIOUS_ACCESS_KEYS": ",".join(settings.KOOGALLERY_PREVIOUS_ACCESS_KEYS),
            "KOOGALLERY_OPENAPI_URL": settings.KOOGALLERY_OPENAPI_URL,
            "KOOGALLERY_OPENAPI_FALLBACK_URL": settings.KOOGALLERY_OPENAPI_FALLBACK_URL or "",
            "KOOGALLERY_OPENAPI_AK": settings.KOOGALLERY_OPENAPI_AK or "",
            "KOOGALLERY_OPENAPI_SK": settings.KOOGALLERY_OPENAPI_SK or "",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


@dataclass
class Process:
    """A child process with its output in a file, stopped by PID."""

    argv: list[str]
    env: dict[str, str]
    ready_text: str | None = None
    port: int | None = None
    log_path: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="isv-proc-", suffix=".log")[1]))
    proc: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> Process:
        handle = open(self.log_path, "ab")  # noqa: SIM115 — closed with the process
        self.proc = subprocess.Popen(
            self.argv, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True
        )
        handle.close()
        deadline = time.monotonic() + timeout
        if self.port:
            wait_for_port(self.port, timeout)
        if self.ready_text:
            while self.ready_text not in self.output():
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.argv[:4]} exited early:\n{self.output()[-3000:]}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{self.argv[:4]} not ready after {timeout}s:\n{self.output()[-3000:]}")
                time.sleep(0.1)
        return self

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, not a shutdown."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()


def celery_worker(env: dict[str, str], concurrency: int = 2) -> Process:
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        str(concurrency),
        "--queues",
        env["ISV_CELERY_QUEUE"],
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "--hostname",
        f"test-{os.getpid()}-{free_port()}@%h",
    ]
    return Process(argv, env, ready_text=" ready.")


def gunicorn(env: dict[str, str], workers: int = 2, port: int | None = None) -> Process:
    port = port or free_port()
    env = {**env, "PORT": str(port), "WEB_CONCURRENCY": str(workers), "GUNICORN_ACCESS_LOG": "0"}
    argv = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "config/gunicorn.py"), "config.wsgi:application"]
    return Process(argv, env, port=port)


@dataclass
class PrivateRedis:
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="isv-redis-")))
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is not installed (make test installs it)")
        argv = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.directory),
        ]
        self.process = Process(argv, {"PATH": os.environ.get("PATH", "")}, port=self.port).start()
        return self

    def stop(self) -> None:
        if self.process:
            self.process.kill()
            self.process = None


def _pg_binary(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"{name} not found: install PostgreSQL's server binaries")


@dataclass
class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a port of its own (initdb runs as `postgres` under root)."""

    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="isv-pg-")))

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *argv: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=120)

    def init(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
        self._run(
            _pg_binary("initdb"), "-D", str(self.directory / "data"), "-U", "postgres", "--auth=trust", "-E", "UTF8"
        )
        return self

    def start(self) -> PrivatePostgres:
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run(
            _pg_binary("pg_ctl"),
            "-D",
            str(self.directory / "data"),
            "-o",
            options,
            "-l",
            str(self.directory / "server.log"),
            "-w",
            "start",
        )
        return self

    def stop(self) -> None:
        self._run(_pg_binary("pg_ctl"), "-D", str(self.directory / "data"), "-m", "immediate", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass
class PrivatePgbouncer:
    """pgbouncer in transaction mode on a port of its own, in front of the tests' PostgreSQL, with
    one server connection per database: every client shares it, transaction by transaction, as
    behind a busy production pooler. (It refuses to run as root: under root it runs as `postgres`.)"""

    target_host: str
    target_port: int
    user: str
    port: int = field(default_factory=free_port)
    directory: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="isv-pgbouncer-")))
    process: Process | None = None

    def url(self, database: str) -> str:
        return f"postgres://{quote(self.user, safe='')}@127.0.0.1:{self.port}/{database}"

    def start(self) -> PrivatePgbouncer:
        binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
        if not Path(binary).exists():
            raise RuntimeError("pgbouncer is not installed (make test installs it)")
        (self.directory / "users.txt").write_text(f'"{self.user}" ""\n')
        (self.directory / "pgbouncer.ini").write_text(
            "[databases]\n"
            f"* = host={self.target_host} port={self.target_port}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {self.directory / 'users.txt'}\n"
            "pool_mode = transaction\ndefault_pool_size = 1\nmax_client_conn = 100\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
        )
        prefix = []
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres")
            prefix = ["runuser", "-u", "postgres", "--"]
        argv = [*prefix, binary, str(self.directory / "pgbouncer.ini")]
        self.process = Process(argv, {"PATH": os.environ.get("PATH", "")}, port=self.port).start()
        return self

    def stop(self) -> None:
        if self.process:
            self.process.stop()
            self.process = None
        shutil.rmtree(self.directory, ignore_errors=True)
