"""gunicorn's configuration for production: ``gunicorn tformance.wsgi -c gunicorn.conf.py`` (bin/serve-production).

Every value comes from the environment, with defaults for a 2-core machine:

| variable | default | what |
|---|---|---|
| ``GUNICORN_BIND`` | ``0.0.0.0:$PORT`` (``PORT`` 8000) | address(es), comma-separated; ``unix:/path`` for a socket |
| ``WEB_CONCURRENCY`` or ``GUNICORN_WORKERS`` | the number of CPUs | worker processes |
| ``GUNICORN_THREADS`` | 4 | threads per worker (gthread): requests mostly wait on PostgreSQL and Redis |
| ``GUNICORN_TIMEOUT`` | 30 | seconds a request may run before its worker is killed and replaced |
| ``GUNICORN_GRACEFUL_TIMEOUT`` | 30 | seconds a worker gets to finish its requests on a restart or stop |
| ``GUNICORN_KEEPALIVE`` | 5 | seconds an idle keep-alive connection from the proxy is kept |
| ``GUNICORN_MAX_REQUESTS`` | 2000 | a worker is replaced after this many requests (0: never), +- jitter |
| ``GUNICORN_MAX_REQUESTS_JITTER`` | 200 | so that workers are not all replaced at once |
| ``GUNICORN_FORWARDED_ALLOW_IPS`` | ``127.0.0.1`` | proxies whose X-Forwarded-* gunicorn trusts (``*``: any) |
| ``GUNICORN_ACCESS_LOG`` | ``-`` (stdout) | where access lines go; the app's own log goes to stderr |
| ``GUNICORN_LOG_LEVEL`` | ``info`` | gunicorn's error log level |
| ``GUNICORN_CONTROL_SOCKET`` | off | gunicorn 27's control socket (``gunicornc``), at this path when set |

PostgreSQL connections: each worker has its own psycopg pool (``DATABASE_POOL_MAX``, 8), so the server
sees at most workers x pool maximum; keep threads <= the pool maximum so no thread waits for a connection.
"""

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = [address.strip() for address in os.environ.get("GUNICORN_BIND", "").split(",") if address.strip()] or [
    f"0.0.0.0:{_int('PORT', 8000)}"
]
workers = _int("WEB_CONCURRENCY", _int("GUNICORN_WORKERS", multiprocessing.cpu_count()))
threads = _int("GUNICORN_THREADS", 4)
worker_class = "gthread"
timeout = _int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _int("GUNICORN_KEEPALIVE", 5)
max_requests = _int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = _int("GUNICORN_MAX_REQUESTS_JITTER", 200)
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

accesslog = os.environ.get("GUNICORN_ACCESS_LOG", "-")
# gunicorn's default line plus the time the request took (%(M)s: milliseconds)
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(M)sms'
errorlog = "-"  # stderr, beside the app's own log
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
capture_output = False
proc_name = "tformance"
# Off unless asked for: its default path (~/.gunicorn/gunicorn.ctl) is one per user, which two instances share.
if os.environ.get("GUNICORN_CONTROL_SOCKET"):
    control_socket = os.environ["GUNICORN_CONTROL_SOCKET"]
else:
    control_socket_disable = True

# The workers' heartbeat files: a tmpfs where there is one (a container's overlay disk can stall them).
if os.path.isdir("/dev/shm"):
    worker_tmp_dir = "/dev/shm"
