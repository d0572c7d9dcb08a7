"""All settings in one module; every difference between deployments comes from the environment.

With no DATABASE_URL the project runs on SQLite, and with no CELERY_BROKER_URL tasks run
in-process, so a bare machine can serve the demo. Production sets both (see docs/operations.md).
"""

import sys
from datetime import timedelta
from pathlib import Path

import environ

from config.env_check import exit_if_misconfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env.smart_cast = False
exit_if_misconfigured()  # a bad variable is one line on stderr, not a traceback


def _secret(name: str, default: str | None = None) -> str | None:
    """A secret from NAME, or from the file NAME_FILE points at (container secrets)."""
    path = env.str(f"{name}_FILE", default="")
    if path:
        return Path(path).read_text().strip()
    return env.str(name, default=default)


DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = _secret("SECRET_KEY", default="insecure-dev-key-set-SECRET_KEY-in-production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "promotions",
    "redemptions",
    "pos_adapters",
]

MIDDLEWARE = [
    "core.observability.RequestIdMiddleware",
    "core.bounds.RefuseNulMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "promotions.admin.sign_in.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
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

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
IS_POSTGRES = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
if IS_POSTGRES:
    # psycopg 3's connection pool: one pool per process, shared by its threads.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The hot paths prepare their own statements (promotions/sql.py); the ORM's queries stay
    # unprepared (Django's default), since prepared long IN lists got far slower generic plans.
    DATABASES["default"].setdefault("OPTIONS", {})["server_side_binding"] = env.bool(
        "DATABASE_SERVER_SIDE_BINDING", default=False
    )
    # psycopg prepares nothing, even on request, while the threshold is None (Django's default,
    # for PgBouncer's transaction mode before 1.21). A threshold no query reaches leaves the
    # preparing to the statements that ask for it.
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = (
        sys.maxsize if env.bool("DATABASE_PREPARED_STATEMENTS", default=True) else None
    )
    if env.bool("DATABASE_POOL", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DATABASE_POOL_MIN", default=2),
            "max_size": env.int("DATABASE_POOL_MAX", default=20),
            "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
        }
else:
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20
    # SQLite (the demo only) cannot enforce unique constraints with NULLS NOT DISTINCT.
    SILENCED_SYSTEM_CHECKS = ["models.W047"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="whitenoise.storage.CompressedStaticFilesStorage",
        )
    },
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["core.bounds.BoundedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "core.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "core.bounds.BoundedPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Trackable mobile promotions API",
    "DESCRIPTION": "Offers, codes, POS redemptions and attribution. Errors are RFC 9457 "
    "problem+json documents with a stable `code`.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # The POS routes (one plain Django view) as their adapters describe them.
    "PREPROCESSING_HOOKS": ["pos_adapters.schema.pos_operations"],
    "ENUM_NAME_OVERRIDES": {
        "RedemptionStatusEnum": ["redeemed", "voided"],
        "PosRewardTypeEnum": ["percent_off", "amount_off", "free_item", "bogo"],
    },
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not CELERY_BROKER_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
# Celery's Django fix-up closes the database connections before and after every task, and with
# a connection pool in a prefork child it closes the whole pool: each attribution run then
# opened new PostgreSQL connections (10% of the worker's time under load, and a backend start on
# the database's side). Close them every 1,000 tasks instead; the pool drops broken ones itself.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A dead broker must never block a till: publishing fails fast, the sweep catches up later.
CELERY_TASK_PUBLISH_RETRY = False
CELERY_BROKER_CONNECTION_TIMEOUT = env.float("CELERY_PUBLISH_TIMEOUT", default=0.5)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_BROKER_VISIBILITY_TIMEOUT,
    "socket_connect_timeout": CELERY_BROKER_CONNECTION_TIMEOUT,
    "socket_timeout": env.float("CELERY_SOCKET_TIMEOUT", default=2.0),
    "max_retries": 0,
}
if env.str("CELERY_BROKER_KEY_PREFIX", default=""):  # Redis keys of several apps in one database
    CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = env.str("CELERY_BROKER_KEY_PREFIX")
CELERY_BEAT_SCHEDULE = {
    "attribution-sweep": {
        "task": "redemptions.tasks.attribution_sweep",
        "schedule": env.float("ATTRIBUTION_SWEEP_SECONDS", default=30.0),
    },
    "rollups-refresh": {
        "task": "redemptions.tasks.rollups_refresh",
        "schedule": env.float("ROLLUPS_REFRESH_SECONDS", default=10.0),
    },
    "idempotency-keys-purge": {
        "task": "redemptions.tasks.idempotency_keys_purge",
        "schedule": 3600.0,
    },
    "code-jobs-resume": {"task": "promotions.tasks.code_jobs_resume", "schedule": 300.0},
}

# --- Product settings -----------------------------------------------------------------------
CODE_EXPORT_CHUNK = 5000
BULK_CODE_CHUNK = env.int("BULK_CODE_CHUNK", default=50_000)
BULK_CODE_MAX = env.int("BULK_CODE_MAX", default=5_000_000)
VOID_WINDOW = timedelta(hours=env.int("VOID_WINDOW_HOURS", default=24))
ATTRIBUTION_HALF_LIFE = timedelta(days=env.float("ATTRIBUTION_HALF_LIFE_DAYS", default=7.0))
ATTRIBUTION_SWEEP_MIN_AGE = timedelta(
    seconds=env.float("ATTRIBUTION_SWEEP_MIN_AGE_SECONDS", default=20)
)
# One attribution run per burst of redemptions (core.publish.publish_coalesced_on_commit);
# 0 publishes one task per redemption. The report's roll-ups refresh every 10 s, so a second here
# is not seen there, and at 500 redemptions a second it halved the worker's CPU per redemption
# (docs/benchmarks.md).
ATTRIBUTION_PUBLISH_WINDOW = env.float("ATTRIBUTION_PUBLISH_WINDOW_SECONDS", default=1.0)
IDEMPOTENCY_TTL = timedelta(hours=env.int("IDEMPOTENCY_TTL_HOURS", default=24))
SIGNATURE_TOLERANCE_SECONDS = env.int("SIGNATURE_TOLERANCE_SECONDS", default=300)
POS_FAILURE_THRESHOLD_STORE = env.int("POS_FAILURE_THRESHOLD_STORE", default=10)
POS_FAILURE_THRESHOLD_INTEGRATION = env.int("POS_FAILURE_THRESHOLD_INTEGRATION", default=30)
POS_FAILURE_COOLDOWN = timedelta(seconds=env.int("POS_FAILURE_COOLDOWN_SECONDS", default=300))

# --- Sign-in and API protection (docs/operations.md) ---------------------------------------
# Admin logins lock after AXES_FAILURE_LIMIT failures per (username, address) and per address,
# for the cool-down. The address is the connection's unless AXES_CLIENT_IP_HEADER names the
# header a trusted proxy sets (core/client_ip.py).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # tries while locked do not extend it
AXES_LOCKOUT_CALLABLE = "promotions.admin.sign_in.locked_out"
AXES_CLIENT_IP_CALLABLE = "core.client_ip.client_ip"
AXES_CLIENT_IP_HEADER = env.str("AXES_CLIENT_IP_HEADER", default="")
AXES_TRUSTED_PROXY_COUNT = env.int("AXES_TRUSTED_PROXY_COUNT", default=1)
OTP_TOTP_ISSUER = "Trackable promotions"
# Throttles count in the default cache, which every web process must share: Redis when
# CACHE_URL (or REDIS_URL) is set, this process's memory in the zero-configuration demo.
CACHE_URL = env.str("CACHE_URL", default=env.str("REDIS_URL", default=""))
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CACHE_URL,
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    if CACHE_URL
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    "manage": env.str("THROTTLE_MANAGE_RATE", default="1200/min"),
    "ingest": env.str("THROTTLE_INGEST_RATE", default="600/min"),
}

METRICS_TOKEN = _secret("METRICS_TOKEN", default="")
METRICS_ALLOWED_NETWORKS = env.list("METRICS_ALLOWED_NETWORKS", default=["127.0.0.1/32", "::1/128"])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "core.observability.ContextFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(request_id)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": env.str("LOG_FORMAT", default="json"),
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
