"""tformance settings: one env-driven module (django-environ).

Development (``DJANGO_DEBUG`` true, the default) needs nothing set: with ``DATABASE_URL``
or ``REDIS_URL`` unset, the embedded PostgreSQL 18 and Redis of ``tformance.embedded``
are started or reused. Production (``DJANGO_DEBUG=false``) refuses to start unless
``DATABASE_URL``, ``REDIS_URL`` and ``SECRET_KEY`` are all set.
"""

import os
import sys
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import environ
from celery.schedules import crontab
from csp import constants as csp_constants
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=True)

PRODUCTION_REQUIRED = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")
if not DEBUG:
    missing = [name for name in PRODUCTION_REQUIRED if not env.str(name, default="")]
    if missing:
        raise ImproperlyConfigured(
            "tformance refuses to start in production (DJANGO_DEBUG is false) without "
            + ", ".join(missing)
            + ": set "
            + ("it" if len(missing) == 1 else "them")
            + " in the environment. Embedded servers are for development only."
        )
    if env.bool("CELERY_TASK_ALWAYS_EAGER", default=False):
        # The demo's setting: every task would run inside the web request that queued it (a sync for minutes).
        raise ImproperlyConfigured(
            "tformance refuses to start in production (DJANGO_DEBUG is false) with CELERY_TASK_ALWAYS_EAGER=true: "
            "tasks would run inside web requests. Unset it and run `celery -A tformance worker`."
        )

SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-tformance-development-only")
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])  # old keys: still verify signatures, decrypt tokens
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])  # empty: SECRET_KEY + fallbacks (fields.py)


def secret_key_weakness(key: str) -> str | None:
    """Why ``key`` is too weak to sign sessions and derive the token keys, or None (Django's own thresholds, W009)."""
    if key.startswith("django-insecure-"):
        return "it starts with 'django-insecure-' (a development key)"
    if len(key) < 50:
        return f"it has {len(key)} characters, fewer than 50"
    if len(set(key)) < 5:
        return f"it has {len(set(key))} distinct characters, fewer than 5"
    return None


if not DEBUG and (weakness := secret_key_weakness(SECRET_KEY)):
    raise ImproperlyConfigured(
        f"tformance refuses to start in production with a weak SECRET_KEY: {weakness}. Generate one with "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'."
    )
DEVELOPMENT_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=DEVELOPMENT_HOSTS if DEBUG else [])

# --- database ------------------------------------------------------------------------------

if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    EMBEDDED_POSTGRES = False
else:
    from tformance import embedded

    # dj-database-url style parsers drop the host= query of a socket URI: set HOST directly.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": embedded.DEFAULT_DATABASE,
            "USER": "postgres",
            "PASSWORD": "",
            "HOST": str(embedded.ensure_postgres()),
            "PORT": "",
        }
    }
    EMBEDDED_POSTGRES = True

DATABASES["default"].setdefault("OPTIONS", {})
# Planner costs for a database that fits in memory, sent with every connection (README,
# "Planner settings"). With PostgreSQL's defaults the cold key metrics at 1M PRs hashed the whole
# survey table (459k rows) in a parallel scan instead of probing its index for the team's 9k PRs:
# random_page_cost 4 prices each probe for a spinning disk, and parallel workers discount the scan
# by cores this 2-core web server needs for other requests. Measured: 76 -> 31 ms.
DATABASE_RANDOM_PAGE_COST = env.float("DATABASE_RANDOM_PAGE_COST", default=1.1)
DATABASE_PARALLEL_WORKERS = env.int("DATABASE_PARALLEL_WORKERS", default=0)
DATABASES["default"]["OPTIONS"]["options"] = " ".join(
    filter(
        None,
        [
            DATABASES["default"]["OPTIONS"].get("options"),
            f"-c random_page_cost={DATABASE_RANDOM_PAGE_COST}",
            f"-c max_parallel_workers_per_gather={DATABASE_PARALLEL_WORKERS}",
        ],
    )
)
# A PostgreSQL that does not answer fails a connection attempt after this many seconds (libpq's
# minimum is 2), in the pool's background worker or, without a pool, in the request.
DATABASES["default"]["OPTIONS"].setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=2))
if env.bool("DATABASE_POOL", default=True):
    # psycopg's pool: connections are reused across requests instead of opened per request.
    DATABASES["default"]["OPTIONS"]["pool"] = {
        "min_size": env.int("DATABASE_POOL_MIN", default=1),
        "max_size": env.int("DATABASE_POOL_MAX", default=8),
        # How long a request waits for a connection: with PostgreSQL down it then answers 503
        # (tformance.middleware.DatabaseUnavailableMiddleware). A Celery worker, which has no one
        # waiting on it, can be started with a longer one (DATABASE_POOL_TIMEOUT=10).
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=1.5),
        # While PostgreSQL is down the pool retries connecting with a doubling delay (1, 2, 4, ... s): after
        # a minute's outage its next try could come a minute after PostgreSQL is back. Giving up a series
        # after this many seconds lets the next request start a fresh one at once: recovery within seconds.
        "reconnect_timeout": env.float("DATABASE_POOL_RECONNECT_TIMEOUT", default=5),
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # Each pooled connection is checked (an empty query) before a request gets it, so a connection
    # left over from before a PostgreSQL restart is replaced instead of failing the request. Django
    # passes the pool check=ConnectionPool.check_connection when this is on (and refuses "check" in
    # OPTIONS["pool"]: it sets that argument itself).
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# --- Redis ---------------------------------------------------------------------------------

if env.str("REDIS_URL", default=""):
    REDIS_URL = env.str("REDIS_URL")
    EMBEDDED_REDIS = False
else:
    from tformance import embedded

    REDIS_URL = embedded.redis_url()
    EMBEDDED_REDIS = True



def _celery_redis_url(url: str) -> str:
    """django-redis writes a socket as ``unix:///path?db=N``; kombu wants ``redis+socket:///path?virtual_host=N``."""
    parsed = urlsplit(url)
    if parsed.scheme != "unix":
        return url
    db = parse_qs(parsed.query).get("db", ["0"])[0]
    return f"redis+socket://{parsed.path}?virtual_host={db}"


# A slow or hung Redis costs a request at most one short socket timeout: the first failure opens a
# circuit breaker and the cache is skipped (reads miss and come from the database) for the cool-down
# (tformance/resilient_cache.py). One log line per outage, logger tformance.cache.
CACHE_SOCKET_TIMEOUT = env.float("CACHE_SOCKET_TIMEOUT", default=0.25)
CACHE_BREAKER_COOLDOWN = env.float("CACHE_BREAKER_COOLDOWN", default=30)
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="tformance"),
        "TIMEOUT": 300,
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "REDIS_CLIENT_CLASS": "tformance.resilient_cache.CircuitBreakerRedis",
            "REDIS_CLIENT_KWARGS": {"circuit_breaker_cooldown": CACHE_BREAKER_COOLDOWN},
            # An outage degrades to computing from the database.
            "IGNORE_EXCEPTIONS": True,
            "SOCKET_CONNECT_TIMEOUT": CACHE_SOCKET_TIMEOUT,
            "SOCKET_TIMEOUT": CACHE_SOCKET_TIMEOUT,
        },
    }
}
DJANGO_REDIS_IGNORE_EXCEPTIONS = True
DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = False  # the breaker logs once per outage, not a traceback per command
DJANGO_REDIS_LOGGER = "tformance.cache"

# --- Celery (broker and results on the same Redis) -----------------------------------------

CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=_celery_redis_url(REDIS_URL))
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves it for another
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Every task's time limits (seconds): soft raises SoftTimeLimitExceeded in the task (recorded as a failed sync),
# hard kills the worker's child process. The team and repository syncs set longer ones of their own.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=5 * 60)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=6 * 60)
# With acks_late, Redis hands an unacknowledged task to another worker after this many seconds: it must
# outlast the longest retry countdown (an hour) and the longest task (30 min), or both would run.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=2 * 3600)}
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_TASK_DEFAULT_QUEUE", default="tformance")
CELERY_TIMEZONE = "UTC"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# True runs every task in the process that enqueues it, with no worker: `make demo` sets it (its "Sync now" syncs
# in the request). Production leaves it off and runs `celery -A tformance worker`.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# The schedule, in one place (``celery -A tformance beat``).
CELERY_BEAT_SCHEDULE = {
    "sync-copilot-metrics-daily": {
        "task": "apps.integrations.tasks.sync_all_copilot_metrics",
        "schedule": crontab(hour=3, minute=15),
    },
    "sync-github-daily": {  # members, repositories and every tracked repository's new PRs, per team
        "task": "apps.integrations.tasks.sync_all_github_task",
        "schedule": crontab(hour=2, minute=30),
    },
    "prune-webhook-deliveries-daily": {  # the replay table keeps DELIVERY_RETENTION (14 days)
        "task": "apps.integrations.tasks.prune_webhook_deliveries_task",
        "schedule": crontab(hour=4, minute=30),
    },
    "aggregate-last-week-on-mondays": {
        "task": "apps.metrics.tasks.aggregate_all_teams_last_week",
        "schedule": crontab(day_of_week="mon", hour=4, minute=0),
    },
}

GITHUB_API_URL = env.str("GITHUB_API_URL", default="https://api.github.com")
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000")  # absolute links sent off-site (PR comments)

# --- application ---------------------------------------------------------------------------

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",  # Content-Security-Policy header (its checks; request.csp_nonce comes from the middleware)
    "axes",  # login throttling: AccessAttempt rows, the axes_reset command, its admin
    "apps.teams",
    "apps.metrics",
    "apps.integrations",
]
# The performance lab and django-extensions (shell_plus, the notebooks' kernel) are development tools: loaded with
# DEBUG, and under pytest whatever DJANGO_DEBUG says (the tests import the lab); production settings never load them.
LAB_LOADED = DEBUG or "pytest" in sys.modules
if LAB_LOADED:
    INSTALLED_APPS += ["django_extensions", "apps.perflab"]

MIDDLEWARE = [
    # First, so that its figures cover everything below it (sessions and auth queries too).
    "tformance.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every response; templates put request.csp_nonce on inline <style>/<script>.
    "csp.middleware.CSPMiddleware",
    # Static files from the app itself (production has no other server for them), before sessions.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # PostgreSQL unreachable anywhere below (sessions, auth, views): 503 + Retry-After, not a 500. Above the
    # first middleware that reads the database, below those whose headers the 503 should still carry.
    "tformance.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A NUL in a query or form value is a 400 before any view (PostgreSQL text cannot hold one).
    "tformance.middleware.RejectNulMiddleware",
    # Login required everywhere except views marked login_not_required (the login page).
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: turns a locked-out login into the lockout page (HTTP 429).
    "axes.middleware.AxesMiddleware",
]
if DEBUG and "apps.perflab" in INSTALLED_APPS:
    # Development only: the lab's N+1 verdict appended to Server-Timing and logged (tformance.nplusone). First, so
    # that it extends the header ServerTimingMiddleware sets and its capture covers sessions and auth too.
    MIDDLEWARE.insert(0, "apps.perflab.middleware.NPlusOneMiddleware")

ROOT_URLCONF = "tformance.urls"
WSGI_APPLICATION = "tformance.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "teams:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Where `manage.py collectstatic` writes and WhiteNoise serves from in production.
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
if not DEBUG:
    # Hashed names (WhiteNoise lets browsers cache them for ever) and gzip copies, made by collectstatic.
    # Development and tests keep Django's default storage: no collectstatic needed.
    STORAGES = {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
# WhiteNoise's own defaults, fixed when settings load (pytest-django turns DEBUG off later): in
# development it finds files in the apps' static folders per request, with no STATIC_ROOT needed.
WHITENOISE_AUTOREFRESH = DEBUG
WHITENOISE_USE_FINDERS = DEBUG
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)

# --- HTTPS behind a proxy, Content Security Policy, login throttling ------------------------

# Only a proxy that sets X-Forwarded-Proto itself (and strips the client's) may be believed: hence a flag.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("DJANGO_BEHIND_PROXY", default=False) else None  # noqa: E501
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    # A load balancer polls the health endpoints over plain HTTP inside the network: never redirected.
    SECURE_REDIRECT_EXEMPT = [r"^healthz/?$", r"^readyz/?$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)  # a year
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    # The directive alone submits nothing: a domain joins browsers' preload lists only if its owner asks
    # hstspreload.org, which takes apex domains only. On, so that check --deploy has nothing to say.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# django-csp 4, on in every mode so that development and the browser tests see what production enforces.
# Inline <style>/<script> blocks carry request.csp_nonce; style="" attributes stay allowed (style-src-attr):
# they cannot run script or load anything, and the templates hold dozens of them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [csp_constants.SELF],
        "script-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src": [csp_constants.SELF, csp_constants.NONCE],
        "style-src-attr": [csp_constants.UNSAFE_INLINE],
        "img-src": [csp_constants.SELF, "data:"],
        "connect-src": [csp_constants.SELF],
        "frame-src": [csp_constants.SELF],  # the charts' tables, framed in <noscript>
        "frame-ancestors": [csp_constants.SELF],
        "object-src": [csp_constants.NONE],
        "base-uri": [csp_constants.SELF],
        "form-action": [csp_constants.SELF],
    }
}

# django-axes: 5 failed logins within 15 minutes lock the account, and separately the address, for 15 minutes
# (each further try restarts the wait); the password is not checked while locked; a success clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before any password check
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"  # AccessAttempt rows; the admin deletes them to unlock
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # either one reaching the limit locks
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/lockout.html"
if SECURE_PROXY_SSL_HEADER:
    # Behind the proxy every connection comes from it: the client is the right-most X-Forwarded-For entry, the one
    # the proxy appended (entries left of it are whatever the client sent). ipware's count is of further proxies.
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
    AXES_IPWARE_PROXY_COUNT = 0
    IPWARE_STRICT = False  # strict mode falls back to REMOTE_ADDR (the proxy) when the client sent its own entries
else:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)  # a client's X-Forwarded-For is never believed

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "embedded_postgres": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # lockouts; not a line per start-up (a notebook's stderr) or per failed login
        "httpx": {"level": "WARNING"},  # a line per request would drown everything else
    },
}

# Jupyter (django-extensions' shell_plus --notebook / make lab)
NOTEBOOK_ARGUMENTS = ["--notebook-dir", str(BASE_DIR / "notebooks"), "--ip", "127.0.0.1", "--no-browser"]
if hasattr(os, "geteuid") and os.geteuid() == 0:
    NOTEBOOK_ARGUMENTS.append("--allow-root")  # containers and CI machines often run as root
SHELL_PLUS_PRINT_SQL_TRUNCATE = None
