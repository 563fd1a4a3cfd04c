"""The embedded servers: shared across processes, safe when started at once, stoppable."""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psycopg
import pytest
import redis

from tformance import embedded

REPO = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from pathlib import Path
from tformance import embedded
root = Path(sys.argv[1])
socket_dir = embedded.ensure_postgres(root)
sock = embedded.ensure_redis(root)
pg_pid = int((root / "pg" / "postmaster.pid").read_text().split()[0])
redis_pid = int((root / "redis.pid").read_text())
print(json.dumps({"socket_dir": str(socket_dir), "pg_pid": pg_pid, "redis_pid": redis_pid}))
"""


def _start_in_subprocesses(root: Path, count: int) -> list[dict]:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE, str(root)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert err == "", f"a stray message on stderr: {err}"
        results.append(json.loads(out))
    return results


@pytest.fixture
def state_root():
    # Short path: a unix socket path must stay under ~107 bytes.
    root = Path(tempfile.mkdtemp(prefix="tf-emb-"))
    yield root
    embedded.stop(root)
    shutil.rmtree(root, ignore_errors=True)


def test_processes_started_at_once_share_one_server_each(state_root):
    first, second = _start_in_subprocesses(state_root, 2)
    assert first == second  # same PostgreSQL postmaster, same Redis process

    (third,) = _start_in_subprocesses(state_root, 1)
    assert third == first  # a later process reuses them instead of starting more

    with psycopg.connect(host=first["socket_dir"], user="postgres", dbname="tformance") as conn:
        assert conn.execute("SHOW server_version_num").fetchone()[0] >= "180000"
    client = redis.Redis(unix_socket_path=str(state_root / "redis.sock"))
    assert client.ping()


def test_stop_stops_both_and_start_again_works(state_root):
    (before,) = _start_in_subprocesses(state_root, 1)
    assert embedded.status(state_root)["postgresql"] is not None

    assert sorted(embedded.stop(state_root)) == ["postgresql", "redis"]
    assert embedded.status(state_root) == {"postgresql": None, "redis": None}
    assert embedded.stop(state_root) == []  # idempotent

    (after,) = _start_in_subprocesses(state_root, 1)
    assert after["pg_pid"] != before["pg_pid"]
