"""Settings for the KooGallery seller service, read from the environment (contract.md).

Defaults make a fresh clone run in *embedded mode*: SQLite under var/, no Redis, background work
in-process. Set DATABASE_URL and REDIS_URL for PostgreSQL + Celery. Production secrets have no
default once DJANGO_DEBUG is off. Every variable is listed in .env.example and the README.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("ISV_VAR_DIR", BASE_DIR / "var"))


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool = False) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    return default if value is None else int(value)


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", False)
TESTING = "pytest" in sys.modules or env_bool("ISV_TESTING", False)
REDIS_URL = env("REDIS_URL")
EMBEDDED = REDIS_URL is None  # contract.md: REDIS_URL unset = embedded mode

SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or EMBEDDED or TESTING):
        raise ImproperlyConfigured("DJANGO_SECRET_KEY is required when DJANGO_DEBUG is off")
    SECRET_KEY = "dev-only-" + secrets.token_urlsafe(32)  # random per dev run

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "marketplace_isv",
    "orders",
    "licenses",
    "tenants",
]

MIDDLEWARE = [
    "config.ops.ProbeHostMiddleware",  # probes answer whatever Host they come with (config/ops.py)
    "config.guards.NulParameterMiddleware",  # ?x=%00 is a 400, not a database error (config/guards.py)
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
    },
]

# --- Database -------------------------------------------------------------------------------------

DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=False)}
else:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {"default": dj_database_url.parse(f"sqlite:///{VAR_DIR / 'isv.sqlite3'}")}
    # SQLite under concurrent gunicorn workers: wait for the write lock rather than fail.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A PostgreSQL outage must turn into a prompt 000005, not a hung KooGallery call (U39).
    DATABASES["default"].setdefault("OPTIONS", {}).update({"connect_timeout": 3})
# PostgreSQL reached through a pooler in transaction mode (pgbouncer `pool_mode = transaction`): the
# service then keeps nothing in a database session — no PREPARE (orders/statements.py), no session
# SET (the journal writer), no LISTEN (the jobs outbox polls), no server-side cursors.
ISV_DB_TRANSACTION_POOLER = env_bool("ISV_DB_TRANSACTION_POOLER", False)
if ISV_DB_TRANSACTION_POOLER:
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Test databases are named per checkout, so two checkouts can test against one server at once.
    _checkout = hashlib.sha256(str(BASE_DIR).encode()).hexdigest()[:6]
    _test_name = f"test_{DATABASES['default']['NAME']}_{_checkout}"
    DATABASES["default"]["TEST"] = {"NAME": env("DATABASE_TEST_NAME", _test_name)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, Celery --------------------------------------------------------------------------------

if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "isv",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = EMBEDDED
# A test session gets a queue of its own, so parallel test runs never take each other's tasks.
CELERY_TASK_DEFAULT_QUEUE = env("ISV_CELERY_QUEUE") or (f"isv-test-{os.getpid()}" if TESTING else "isv")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Publishing must never stall a KooGallery callback: fail fast and let the sweep re-enqueue (§5.3).
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # kombu retries a failed connect for its default channel (2 s of sleeps) unless told not to:
    # with the broker down every publish, hence every callback answer, would wait that long.
    "max_retries": 0,
    "socket_connect_timeout": 1,
    "socket_timeout": 2,
    "visibility_timeout": env_int("ISV_CELERY_VISIBILITY_TIMEOUT", 3600),
}
# Periodic tasks (celery beat; in embedded mode a thread of the web process runs them).
CELERY_BEAT_SCHEDULE: dict = {
    "prune-nonces": {"task": "marketplace_isv.prune_nonces", "schedule": 300.0},
    "prune-journal": {"task": "marketplace_isv.prune_journal", "schedule": 3600.0},
}
CELERY_TIMEZONE = "UTC"

# --- Internationalisation, static files -----------------------------------------------------------

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = Path(env("DJANGO_STATIC_ROOT", str(VAR_DIR / "static")))
WHITENOISE_USE_FINDERS = True  # the admin's assets are served even before collectstatic (make run)
try:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
except OSError:
    pass
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- HTTP and security ----------------------------------------------------------------------------

# Production runs behind a TLS-terminating proxy (contract.md).
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = env_bool("DJANGO_USE_X_FORWARDED_HOST", False)
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", False)
# KooGallery and the orchestrator treat a redirect as a failure: never redirect these paths.
SECURE_REDIRECT_EXEMPT = [r"^koogallery/", r"^healthz/?$", r"^readyz/?$", r"^metrics/?$"]
SESSION_COOKIE_SECURE = not DEBUG and not EMBEDDED
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- KooGallery protocol (koogallery-protocol.md) -------------------------------------------------

DEV_ACCESS_KEY = "dev-access-key-change-me"
KOOGALLERY_ACCESS_KEY = env("KOOGALLERY_ACCESS_KEY")
if not KOOGALLERY_ACCESS_KEY:
    if not (EMBEDDED or DEBUG or TESTING):
        raise ImproperlyConfigured("KOOGALLERY_ACCESS_KEY is required outside embedded mode")
    KOOGALLERY_ACCESS_KEY = DEV_ACCESS_KEY
KOOGALLERY_PREVIOUS_ACCESS_KEYS = env_list("KOOGALLERY_PREVIOUS_ACCESS_KEYS")
KOOGALLERY_KIT_ACCESS_KEY = env("KOOGALLERY_KIT_ACCESS_KEY", KOOGALLERY_ACCESS_KEY)
# Separate keys bound to License授权码交付接口 / 通用接口(订单通知), §1.4.
KOOGALLERY_LICENSE_ACCESS_KEY = env("KOOGALLERY_LICENSE_ACCESS_KEY", KOOGALLERY_ACCESS_KEY)
KOOGALLERY_NOTIFY_ACCESS_KEY = env("KOOGALLERY_NOTIFY_ACCESS_KEY", KOOGALLERY_ACCESS_KEY)
KOOGALLERY_ENCRYPT_TYPE = env("KOOGALLERY_ENCRYPT_TYPE", "1")
if KOOGALLERY_ENCRYPT_TYPE not in {"1", "2"}:
    raise ImproperlyConfigured("KOOGALLERY_ENCRYPT_TYPE must be 1 (AES-256) or 2 (AES-128)")
KOOGALLERY_RSA_PRIVATE_KEY_FILE = env("KOOGALLERY_RSA_PRIVATE_KEY_FILE")
KOOGALLERY_SIGNATURE_TOLERANCE_SECONDS = env_int("KOOGALLERY_SIGNATURE_TOLERANCE_SECONDS", 60)
KOOGALLERY_OPENAPI_URL = env("KOOGALLERY_OPENAPI_URL", "https://mkt.myhuaweicloud.com")
# Used only when KOOGALLERY_OPENAPI_URL is the mainland default and unreachable; set it empty to disable.
KOOGALLERY_OPENAPI_FALLBACK_URL = os.environ.get("KOOGALLERY_OPENAPI_FALLBACK_URL", "https://mkt.myhuaweicloud.cn")
KOOGALLERY_OPENAPI_AK = env("KOOGALLERY_OPENAPI_AK")
KOOGALLERY_OPENAPI_SK = env("KOOGALLERY_OPENAPI_SK")
KOOGALLERY_OPENAPI_TIMEOUT_SECONDS = float(env("KOOGALLERY_OPENAPI_TIMEOUT_SECONDS", "10"))
KOOGALLERY_V2_ENCRYPT_APPINFO = env_bool("KOOGALLERY_V2_ENCRYPT_APPINFO", False)
# §4.0 / U42: our own request size limit, between 4 MB and 16 MB; allOrgSync needs ≥ 2 MB.
KOOGALLERY_MAX_BODY_BYTES = env_int("KOOGALLERY_MAX_BODY_BYTES", 8 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = KOOGALLERY_MAX_BODY_BYTES
# Journal rows of calls that changed nothing are written in batches by a per-process thread
# (marketplace_isv/journal.py); state-changing calls always commit theirs with their work.
ISV_JOURNAL_RETENTION_DAYS = env_int("ISV_JOURNAL_RETENTION_DAYS", 400)
ISV_JOURNAL_ASYNC = env_bool("ISV_JOURNAL_ASYNC", DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql")
ISV_FRONTEND_URL = env("ISV_FRONTEND_URL", "http://localhost:8000/app/{instance_id}")

# --- tenants: joint-operation Kit sync and single sign-on (docs/tenants.md) -------------------------

# AES-GCM key for secrets at rest (the decrypted clientSecret). Any long random string; production
# has no default. Old values stay readable from ISV_PREVIOUS_FIELD_ENCRYPTION_KEYS during a rotation.
ISV_FIELD_ENCRYPTION_KEY = env("ISV_FIELD_ENCRYPTION_KEY")
if not ISV_FIELD_ENCRYPTION_KEY:
    if not (EMBEDDED or DEBUG or TESTING):
        raise ImproperlyConfigured("ISV_FIELD_ENCRYPTION_KEY is required outside embedded mode")
    ISV_FIELD_ENCRYPTION_KEY = "dev-field-encryption-key-change-me"
ISV_PREVIOUS_FIELD_ENCRYPTION_KEYS = env_list("ISV_PREVIOUS_FIELD_ENCRYPTION_KEYS")
# SSO (§8): our app credential's appId, Huawei's unified login page, and where users land.
KOOGALLERY_SSO_APP_ID = env("KOOGALLERY_SSO_APP_ID", "")
KOOGALLERY_SSO_LOGIN_URL = env(
    "KOOGALLERY_SSO_LOGIN_URL", "https://macroverse.huaweicloud.com/unified-login/#/portal-login"
)
KOOGALLERY_SSO_CALLBACK_URL = env("KOOGALLERY_SSO_CALLBACK_URL", "")  # empty: built from the request
KOOGALLERY_SSO_HOME_URL = env("KOOGALLERY_SSO_HOME_URL", "/sso/me")
KOOGALLERY_SSO_POST_LOGOUT_URL = env("KOOGALLERY_SSO_POST_LOGOUT_URL", "")  # empty: /sso/signed-out
KOOGALLERY_SSO_TIMEOUT_SECONDS = float(env("KOOGALLERY_SSO_TIMEOUT_SECONDS", "10"))
# An http:// tenant domain is only for local fakes and tests; https is always certificate-verified.
KOOGALLERY_SSO_ALLOW_HTTP = env_bool("KOOGALLERY_SSO_ALLOW_HTTP", EMBEDDED or DEBUG or TESTING)
# --- orders (orders app: instances, provisioning jobs) --------------------------------------------

# The provisioner: "demo" (built in, a workspace row per instance), "http" (a signed JSON POST to
# the ISV's backend) or a dotted class path. Test traffic (testFlag=1) always uses the demo one.
ISV_PROVISIONER = env("ISV_PROVISIONER", "demo")
ISV_PROVISIONER_URL = env("ISV_PROVISIONER_URL")
ISV_PROVISIONER_SECRET = env("ISV_PROVISIONER_SECRET")
ISV_PROVISIONER_TIMEOUT_SECONDS = float(env("ISV_PROVISIONER_TIMEOUT_SECONDS", "10"))
ISV_PROVISIONER_CHECK_TIMEOUT_SECONDS = float(env("ISV_PROVISIONER_CHECK_TIMEOUT_SECONDS", "3"))
# V2 newInstance: how long a repeated call may wait for a provisioning under way (0 = answer at once).
ORDERS_NEW_INSTANCE_WAIT_SECONDS = float(env("ORDERS_NEW_INSTANCE_WAIT_SECONDS", "0"))
ORDERS_JOB_MAX_ATTEMPTS = env_int("ORDERS_JOB_MAX_ATTEMPTS", 10)
# The first retry waits up to this long, each later one twice as long (at most 15 minutes).
ORDERS_JOB_RETRY_BACKOFF_SECONDS = float(env("ORDERS_JOB_RETRY_BACKOFF_SECONDS", "5"))
ORDERS_JOB_LEASE_SECONDS = env_int("ORDERS_JOB_LEASE_SECONDS", 300)
ORDERS_JOB_SWEEP_GRACE_SECONDS = env_int("ORDERS_JOB_SWEEP_GRACE_SECONDS", 30)
ORDERS_JOB_SWEEP_SECONDS = env_int("ORDERS_JOB_SWEEP_SECONDS", 60)
ORDERS_DEMO_DELAY_SECONDS = float(env("ORDERS_DEMO_DELAY_SECONDS", "0"))
# The jobs outbox (orders/outbox.py): every Celery worker publishes the job rows the web process
# committed, woken by NOTIFY (PostgreSQL) or polling every ORDERS_JOB_DISPATCH_POLL_SECONDS.
ORDERS_JOB_DISPATCHER = env_bool("ORDERS_JOB_DISPATCHER", True)
ORDERS_JOB_DISPATCH_POLL_SECONDS = float(env("ORDERS_JOB_DISPATCH_POLL_SECONDS", "1"))
CELERY_BEAT_SCHEDULE["orders-sweep-jobs"] = {"task": "orders.sweep_jobs", "schedule": float(ORDERS_JOB_SWEEP_SECONDS)}
# Usage push (§7.2, orders/usage.py and orders/usage_pusher.py): due records are pushed every ORDERS_USAGE_PUSH_SECONDS (and
# right after they are reported); a record KooGallery cannot take is retried with backoff up to
# ORDERS_USAGE_MAX_ATTEMPTS times. The reporting API (/api/usage/) is off until its token is set.
ORDERS_USAGE_PUSH_SECONDS = env_int("ORDERS_USAGE_PUSH_SECONDS", 300)
ORDERS_USAGE_MAX_ATTEMPTS = env_int("ORDERS_USAGE_MAX_ATTEMPTS", 12)
ORDERS_USAGE_LEASE_SECONDS = env_int("ORDERS_USAGE_LEASE_SECONDS", 120)
ORDERS_USAGE_API_TOKEN = env("ORDERS_USAGE_API_TOKEN", "")
CELERY_BEAT_SCHEDULE["orders-push-usage"] = {"task": "orders.push_usage", "schedule": float(ORDERS_USAGE_PUSH_SECONDS)}

# --- Logging --------------------------------------------------------------------------------------

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        # config/logs.py: what callers sent cannot break a line or forge one
        "plain": {"()": "config.logs.OneLineFormatter", "format": "%(asctime)s %(levelname)s %(name)s %(message)s"}
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("ISV_LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
}

# --- agents_gateway: Agents gateway products (§12, docs/agents_gateway.md) ------------------------
# Inert unless AGENTS_GATEWAY_MODE is jwt or header (the endpoints answer 404 while it is off).
INSTALLED_APPS += ["agents_gateway"]
AGENTS_GATEWAY_MODE = env("AGENTS_GATEWAY_MODE", "off")
AGENTS_GATEWAY_KEYS = env("AGENTS_GATEWAY_KEYS", "")  # APP Key:APP Secret pairs, comma-separated
AGENTS_GATEWAY_HEADER = env("AGENTS_GATEWAY_HEADER", "")  # jwt: default Authorization; header: required
AGENTS_GATEWAY_HEADER_VALUE = env("AGENTS_GATEWAY_HEADER_VALUE", "")
AGENTS_GATEWAY_PREVIOUS_HEADER_VALUES = env_list("AGENTS_GATEWAY_PREVIOUS_HEADER_VALUES")
AGENTS_GATEWAY_BEARER_PREFIX = env("AGENTS_GATEWAY_BEARER_PREFIX", "Bearer ")
AGENTS_GATEWAY_TOKEN_FORM = env("AGENTS_GATEWAY_TOKEN_FORM", "any")  # any | bearer | bare
AGENTS_GATEWAY_EXPIRY_CLAIM = env("AGENTS_GATEWAY_EXPIRY_CLAIM", "exp")
AGENTS_GATEWAY_CLOCK_SKEW_MS = env_int("AGENTS_GATEWAY_CLOCK_SKEW_MS", 30_000)
AGENTS_GATEWAY_MODEL = env("AGENTS_GATEWAY_MODEL", "agents_gateway.echo.echo_model")
AGENTS_GATEWAY_MODEL_NAME = env("AGENTS_GATEWAY_MODEL_NAME", "echo")
AGENTS_GATEWAY_AGENT_MODES = env_list("AGENTS_GATEWAY_AGENT_MODES")  # agent:sync|stream, as registered
AGENTS_GATEWAY_JOURNAL_TOKEN = env("AGENTS_GATEWAY_JOURNAL_TOKEN", "")
AGENTS_GATEWAY_HEADER_SAMPLES = env_int("AGENTS_GATEWAY_HEADER_SAMPLES", 20)
AGENTS_GATEWAY_PROTECTED_PATHS = env_list("AGENTS_GATEWAY_PROTECTED_PATHS")
# The gateway may call over http: never redirect its path (a redirect is a failed call).
SECURE_REDIRECT_EXEMPT += [r"^agents/"]
if env_bool("AGENTS_GATEWAY_SERVE_ONLY", False):
    # The separate agents process: only /agents/ and the probes (agents_gateway/standalone_urls.py).
    ROOT_URLCONF = "agents_gateway.standalone_urls"
# --- end agents_gateway ---------------------------------------------------------------------------

# --- licenses (licenses/, docs/licenses.md) -------------------------------------------------------

# The Ed25519 key that signs licence keys (PEM, PKCS#8; `manage.py license_keygen`). Unset: in
# embedded/debug/test runs a key is generated on first use under var/; in production it must be set.
ISV_LICENSE_SIGNING_KEY_FILE = env("ISV_LICENSE_SIGNING_KEY_FILE")
ISV_LICENSE_AUTOGENERATE_KEY = env_bool("ISV_LICENSE_AUTOGENERATE_KEY", EMBEDDED or DEBUG or TESTING)
# Public keys (PEM or JWKS files) still trusted after a signing-key rotation.
ISV_LICENSE_EXTRA_PUBLIC_KEY_FILES = env_list("ISV_LICENSE_EXTRA_PUBLIC_KEY_FILES")
# getLicenseAsync (§4.4.1): product ids / sku codes that need a device fingerprint ("*" = all) → 000903;
# devices per instance without a quantity → 000900; slack on the order's validity → 000901.
ISV_LICENSE_FINGERPRINT_REQUIRED = env_list("ISV_LICENSE_FINGERPRINT_REQUIRED")
ISV_LICENSE_DEFAULT_DEVICE_QUOTA = env_int("ISV_LICENSE_DEFAULT_DEVICE_QUOTA", 1)
ISV_LICENSE_VALIDITY_TOLERANCE_SECONDS = env_int("ISV_LICENSE_VALIDITY_TOLERANCE_SECONDS", 86400)
# Licence uploads (§7.4): attempts before `failed`, worker lease, when the sweep re-enqueues.
ISV_LICENSE_UPLOAD_MAX_ATTEMPTS = env_int("ISV_LICENSE_UPLOAD_MAX_ATTEMPTS", 12)
ISV_LICENSE_UPLOAD_LEASE_SECONDS = env_int("ISV_LICENSE_UPLOAD_LEASE_SECONDS", 120)
ISV_LICENSE_UPLOAD_STALE_SECONDS = env_int("ISV_LICENSE_UPLOAD_STALE_SECONDS", 900)
CELERY_BEAT_SCHEDULE["licenses-sweep-uploads"] = {"task": "licenses.sweep_uploads", "schedule": 60.0}
# The licence check endpoint (/api/licenses/check): DRF throttling in the shared cache (Redis).
ISV_LICENSE_CHECK_RATE_PER_ADDRESS = env("ISV_LICENSE_CHECK_RATE_PER_ADDRESS", "60/min")
ISV_LICENSE_CHECK_RATE_PER_KEY = env("ISV_LICENSE_CHECK_RATE_PER_KEY", "10/min")
# Proxies in front of the service that append to X-Forwarded-For (1 behind the TLS proxy); 0 = use
# the peer address. Too high a value lets callers pick their own address for the rate limit.
ISV_LICENSE_CHECK_PROXY_COUNT = env_int("ISV_LICENSE_CHECK_PROXY_COUNT", 0)
# --- end licenses ---------------------------------------------------------------------------------
