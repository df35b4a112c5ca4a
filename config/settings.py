"""Roster settings: one module, every knob from the environment (see .env.example)."""

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = get_random_secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "django_rq",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served by Roster itself: /api/docs/ works offline
    "corsheaders",
    "anymail",
    "core",
    "subscribers",
    "audiences",
    "imports",
    "preferences",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "core.middleware.ApiErrorEnvelopeMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "preferences.middleware.NotFoundPageMiddleware",
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

# Embedded mode (no DATABASE_URL): a SQLite file under var/. Production: DATABASE_URL=postgres://...
DATA_DIR = Path(env.str("ROSTER_DATA_DIR", default=str(BASE_DIR / "var")))
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'roster.sqlite3'}")}
# SQLite takes one writer at a time, and an import writes while requests (a cancel, the admin) write too. WAL lets
# readers read during a write; IMMEDIATE takes the write lock when a transaction begins, so a transaction that read
# first never fails on upgrading its lock (SQLITE_BUSY, "database is locked"); the busy timeout is how long a writer
# waits its turn.
SQLITE_BUSY_TIMEOUT_SECONDS = env.float("SQLITE_BUSY_TIMEOUT_SECONDS", default=20.0)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        "transaction_mode": "IMMEDIATE",
        "timeout": SQLITE_BUSY_TIMEOUT_SECONDS,
        **DATABASES["default"].get("OPTIONS", {}),
    }
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DB_CONN_MAX_AGE", default=60)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# SQLite (embedded mode) cannot enforce "NULLS NOT DISTINCT"; PostgreSQL, the production database, does.
SILENCED_SYSTEM_CHECKS = ["models.W047"]

# Embedded mode (no REDIS_URL): jobs run in-process. Production: REDIS_URL=redis://... and `manage.py rqworker`.
REDIS_URL = env.str("REDIS_URL", default="")
RQ_QUEUE_NAMES = ("default", "imports", "segments")
# Parallel test processes share one Redis: each gets queues of its own (pytest-xdist names its workers gw0, gw1...).
RQ_QUEUE_PREFIX = env.str("RQ_QUEUE_PREFIX", default="") + os.environ.get("PYTEST_XDIST_WORKER", "")
RQ_QUEUES = {f"{RQ_QUEUE_PREFIX}{name}": {"URL": REDIS_URL or "redis://localhost:6379/0", "DEFAULT_TIMEOUT": 3600}
             for name in RQ_QUEUE_NAMES}  # fmt: skip
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = DATA_DIR / "media"

# Largest request body the API accepts (bulk imports go through uploads, not JSON bodies).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("API_MAX_BODY_BYTES", default=2 * 1024 * 1024)

# How many reverse proxies in front of Roster append to X-Forwarded-For (0: use the connecting address). Consent
# records keep the client's address.
TRUSTED_PROXY_HOPS = env.int("TRUSTED_PROXY_HOPS", default=0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_FAILURE_VIEW = "preferences.views.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["core.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["core.api.permissions.HasApiKeyScope"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["core.api.parsers.BoundedJSONParser"],
    "EXCEPTION_HANDLER": "core.api.errors.api_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "core.api.schema.RosterAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Roster API",
    "DESCRIPTION": "Subscribers, consent, lists and audiences. Authenticate with the X-API-Key header.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Audiences and tags both have a `status`: each enum gets a name of its own.
    "ENUM_NAME_OVERRIDES": {
        "AudienceStatusEnum": "audiences.models.Audience.Status",
        "TagStatusEnum": "subscribers.models.Tag.Status",
    },
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Public pages: the absolute base of links in emails, an optional separate origin for "view in browser" (so stored email
# HTML never shares Roster's origin), how long links live (None: until revoked), and origins allowed to call the
# preference API from a customer-hosted page.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")
EMAIL_VIEW_BASE_URL = env.str("EMAIL_VIEW_BASE_URL", default="")
# Seconds a link in an email opens its page: about 13 months, so a link from last year's emails still works while an
# old leaked one dies on its own (revoking links or changing the email kills them earlier).
LINK_TOKEN_MAX_AGE = env.int("LINK_TOKEN_MAX_AGE", default=400 * 24 * 3600)
PREFERENCE_API_ALLOWED_ORIGINS = env.list("PREFERENCE_API_ALLOWED_ORIGINS", default=[])
# CORS applies to the token-authorized preference API only; the rest of /api/ is for servers holding a key.
CORS_ALLOWED_ORIGINS = PREFERENCE_API_ALLOWED_ORIGINS
CORS_URLS_REGEX = r"^/api/subscribers/(preferences|email)/.*$"
CORS_ALLOW_METHODS = ("GET", "PUT", "OPTIONS")
# The seed's examples send X-API-Key even here; it is ignored, but a browser must be allowed to send it.
CORS_ALLOW_HEADERS = ("accept", "content-type", "x-api-key")

# Email provider tracking webhooks (django-anymail) feed engagement events; the secret is "user:password" for the
# provider's basic auth. Provider signing keys go in ANYMAIL (e.g. MAILGUN_WEBHOOK_SIGNING_KEY). A provider route with
# neither refuses every call (subscribers.webhook_routes), and `manage.py check --deploy` warns.
ANYMAIL = {
    "WEBHOOK_SECRET": env.str("ANYMAIL_WEBHOOK_SECRET", default="") or None,
    "MAILGUN_WEBHOOK_SIGNING_KEY": env.str("MAILGUN_WEBHOOK_SIGNING_KEY", default="") or None,
}
ANYMAIL = {key: value for key, value in ANYMAIL.items() if value}

# Imports: the largest file (rows and bytes), whether file_url may point at private or loopback addresses, how long
# a download may take, and list sizes (Samba-style limits, answered with 409).
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=1_000_000)
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=512 * 1024 * 1024)
# The longest row, in characters: a longer one is never held whole in memory, and is reported as a row error.
IMPORT_MAX_ROW_CHARS = env.int("IMPORT_MAX_ROW_CHARS", default=1024 * 1024)
IMPORT_ALLOW_PRIVATE_URLS = env.bool("IMPORT_ALLOW_PRIVATE_URLS", default=False)
IMPORT_FETCH_TIMEOUT_SECONDS = env.int("IMPORT_FETCH_TIMEOUT_SECONDS", default=120)
IMPORT_BATCH_SIZE = env.int("IMPORT_BATCH_SIZE", default=5000)
# A testing aid: seconds a worker sleeps after each batch, so that a test can kill it mid-import. Never in production.
IMPORT_BATCH_PAUSE_SECONDS = env.float("IMPORT_BATCH_PAUSE_SECONDS", default=0.0)
# A processing job whose worker has not reported for this long is taken to have died and is resumed.
IMPORT_STALE_MINUTES = env.int("IMPORT_STALE_MINUTES", default=10)
IMPORT_ERROR_LINK_MAX_AGE_SECONDS = env.int("IMPORT_ERROR_LINK_MAX_AGE_SECONDS", default=24 * 3600)
LIST_MAX_MEMBERS = env.int("LIST_MAX_MEMBERS", default=10_000_000)
TOTAL_MAX_SUBSCRIBERS = env.int("TOTAL_MAX_SUBSCRIBERS", default=50_000_000)

# Audience rules: the most conditions one rule tree may hold (counted over every group and nesting level), and how long
# one statement evaluating rules may run on PostgreSQL (milliseconds; 0: no limit): when a subscriber change refreshes
# rule audiences within the request (short), and when a worker materializes an audience (long). An audience whose
# rules fail or time out is marked `failed` with the reason and skipped until its rules change.
# Keys of additional_fields_data that no custom field defines are registered as discovered fields, up to this many.
CUSTOM_FIELDS_MAX_DISCOVERED = env.int("CUSTOM_FIELDS_MAX_DISCOVERED", default=200)
AUDIENCE_MAX_RULE_CONDITIONS = env.int("AUDIENCE_MAX_RULE_CONDITIONS", default=500)
AUDIENCE_LIVE_REFRESH_STATEMENT_TIMEOUT_MS = env.int("AUDIENCE_LIVE_REFRESH_STATEMENT_TIMEOUT_MS", default=2_000)
AUDIENCE_MATERIALIZE_STATEMENT_TIMEOUT_MS = env.int("AUDIENCE_MATERIALIZE_STATEMENT_TIMEOUT_MS", default=600_000)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's own console handler (DEBUG only) would print every line a second time through the root logger.
    "loggers": {"django": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO"), "propagate": False}},
}
