"""Settings for the fraud detection platform, read from the environment.

Development: DJANGO_DEBUG=1 (what `make run` sets). Production: DJANGO_DEBUG unset or 0, in which
case DJANGO_SECRET_KEY and CARD_FINGERPRINT_KEY are required and every `check --deploy` hardening
is on. See the README for the full list of variables.
"""

from datetime import timedelta
from pathlib import Path

import environ
import xstatic.pkg.bootstrap
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="dev-only-insecure-key-" + "x" * 40)
    CARD_FINGERPRINT_KEY = env.str("CARD_FINGERPRINT_KEY", default="dev-only-card-fingerprint-key")
else:
    # Fail fast: a production process must never start with a guessable key.
    SECRET_KEY = env.str("DJANGO_SECRET_KEY")
    CARD_FINGERPRINT_KEY = env.str("CARD_FINGERPRINT_KEY")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "core",
    "accounts",
    "api",
    "transactions",
    "detection",
    "core.apps.StaffAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_tasks_db",
    # Only for its `health_check` command (probes /health/ready/ from inside a container).
    "health_check",
    "crispy_forms",
    "crispy_bootstrap5",
    "axes",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
]
# The demo's seed commands (make run), off in production unless asked for.
if env.bool("DJANGO_DEMO", default=DEBUG):
    INSTALLED_APPS.append("demo")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # 503 with Retry-After (not 500) for any view that meets an unreachable database.
    "api.unavailable.DatabaseUnavailableMiddleware",
    # Outermost after security headers: sees the response of every view, including refusals.
    "core.middleware.NoStoreWhenSignedInMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # Before anything reads the path or query: NUL, controls, lone surrogates, over-long URIs.
    "core.middleware.RefuseMalformedRequestMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # A 405's empty body becomes the site's page (the user and the language are known by here).
    "core.middleware.MethodNotAllowedPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes requires, so it sees the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fraudsite.urls"
WSGI_APPLICATION = "fraudsite.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
# Covering indexes (INCLUDE) speed PostgreSQL up; SQLite simply builds them without the extra
# columns, which is all this warning says.
SILENCED_SYSTEM_CHECKS = ["models.W040"]
# Keep each worker thread's connection open between requests: opening one costs more than a
# decision (PostgreSQL starts a backend process per connection). Checked before reuse.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=300)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend with a health check that needs no round trip (core/postgresql).
    DATABASES["default"]["ENGINE"] = "core.postgresql"
    # Server-side binding lets psycopg prepare the statements a request repeats (a decision runs
    # the same dozen every time), so PostgreSQL stops parsing and planning them again: after 5
    # uses by default. Set DATABASE_PREPARE_THRESHOLD=0 behind a transaction-level pooler
    # (PgBouncer), which cannot keep prepared statements.
    _threshold = env.int("DATABASE_PREPARE_THRESHOLD", default=5)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "server_side_binding": env.bool("DATABASE_SERVER_SIDE_BINDING", default=True),
            "prepare_threshold": _threshold or None,
        }
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the task worker write to the same file: wait for locks instead of
    # failing at once, and take the write lock at BEGIN so transactions never deadlock. With the
    # write-ahead log, synchronous=NORMAL syncs at checkpoints rather than at every commit: the
    # database cannot be corrupted, and only a power cut (not a crash) can lose the last commits.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# Background work (training, batch scoring, retraining) goes through Django's Tasks framework:
# the database and `manage.py db_worker` by default; with REDIS_URL, Redis Queue and
# `manage.py rq_worker` on any number of machines (see core/rq_backend.py).
if REDIS_URL:
    TASKS = {"default": {"BACKEND": "core.rq_backend.RQBackend", "OPTIONS": {"URL": REDIS_URL}}}
else:
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# Housekeeping the task workers (`db_worker`, `rq_worker`) run between tasks: dotted path ->
# interval in seconds (core/chores.py).
PERIODIC_CHORES = {
    "api.idempotency.idempotency_records_purge": env.int("IDEMPOTENCY_PURGE_INTERVAL", default=600),
    # Webhook deliveries due for a retry, or left "in progress" by a worker that died.
    "api.webhooks.delivery.webhook_deliveries_sweep": env.int("WEBHOOKS_SWEEP_INTERVAL", default=15),
}

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "transactions:dashboard"
LOGOUT_REDIRECT_URL = "home"

# Login lockout: after AXES_FAILURE_LIMIT failures for one email from one address. The email is
# counted in its canonical form, the one sign-in looks up (accounts/lockout.py), so no spelling
# of an address escapes the count; the handler stores requests with card numbers masked.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_TEMPLATE = "accounts/lockout.html"
AXES_RESET_ON_SUCCESS = True
AXES_SENSITIVE_PARAMETERS = ["password"]
AXES_VERBOSE = False
# Django's login form posts the email in a field called "username".
AXES_USERNAME_FORM_FIELD = "username"
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_HANDLER = "accounts.lockout.LockoutHandler"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
# One date and one money format per language (fraudsite/formats/). Thousands separators are not
# switched on everywhere (USE_THOUSAND_SEPARATOR): ids, years and form values would get them too;
# the pages group money with the `money` filter instead.
FORMAT_MODULE_PATH = ["fraudsite.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # Bootstrap comes from the xstatic-bootstrap package, never from a CDN.
    ("vendor/bootstrap", xstatic.pkg.bootstrap.BASE_DIR),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("DJANGO_MEDIA_ROOT", default=VAR_DIR / "media")
# Model artifacts (joblib files); the registry in the database records their checksums.
DETECTION_MODELS_DIR = env.path("DETECTION_MODELS_DIR", default=VAR_DIR / "models")
# The decision bands' risk appetite and capacity, when the environment sets them (defaults,
# bounds and meaning: detection/conf.py; staff can override them in the admin). Read as text:
# `manage.py check` refuses a value that cannot be read or is out of bounds.
for _name in (
    "DETECTION_BLOCK_PRECISION",
    "DETECTION_BLOCK_MIN_FRAUDS",
    "DETECTION_BLOCK_FALLBACK_SHARE",
    "DETECTION_REVIEW_CARDS_PER_DAY",
    "DETECTION_REVIEW_ALERT_RATE",
):
    if _name in env:
        globals()[_name] = env.str(_name)
MEDIA_URL = "media/"
# Webhooks (api/webhooks/conf.py): the key signing secrets are derived from (default SECRET_KEY),
# an attempt's deadline, loopback URLs for development, how long a rotated secret still signs, and
# each endpoint's budget of attempts per minute.
for _name in (
    "WEBHOOKS_SECRET_KEY",
    "WEBHOOKS_TIMEOUT_SECONDS",
    "WEBHOOKS_ALLOW_LOOPBACK",
    "WEBHOOKS_SECRET_GRACE_SECONDS",
    "WEBHOOKS_MAX_PER_MINUTE",
):
    if _name in env:
        globals()[_name] = env.str(_name)

MAILERS = {
    "default": {
        "BACKEND": env.str(
            "DJANGO_EMAIL_BACKEND",
            default="django.core.mail.backends.console.EmailBackend"
            if DEBUG
            else "django.core.mail.backends.smtp.EmailBackend",
        ),
        "OPTIONS": env.json("DJANGO_EMAIL_OPTIONS", default={}),
    }
}
DEFAULT_FROM_EMAIL = env.str("DJANGO_DEFAULT_FROM_EMAIL", default="fraudsite <no-reply@localhost>")

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Content Security Policy: scripts only from our own origin or with the per-request nonce.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True
# The language switcher posts a form; no script reads the cookie.
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# Load balancers probe the nodes over plain HTTP: the health URLs answer there, never redirect.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
if not DEBUG:
    SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    LANGUAGE_COOKIE_SECURE = True

# Requests refused before any view (core.middleware): a request target longer than this gets 414
# in the API's error shape. gunicorn's limit_request_line (gunicorn.conf.py) is above it, so only
# longer request lines meet gunicorn's own plain 414.
REQUEST_MAX_URI_LENGTH = env.int("REQUEST_MAX_URI_LENGTH", default=4096)
# JSON bodies nested deeper than this are refused (400); ours are flat objects.
API_JSON_MAX_DEPTH = env.int("API_JSON_MAX_DEPTH", default=32)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # The first class answers 401 with `WWW-Authenticate: Api-Key` to anonymous callers.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.auth.IntegratorKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.StrictJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.NewestFirstPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.KeyScopedRateThrottle"],
    # Per API key (per user for sessions, per address when anonymous), per scope.
    "DEFAULT_THROTTLE_RATES": {
        "default": env.str("API_RATE_DEFAULT", default="1200/min"),
        "submit": env.str("API_RATE_SUBMIT", default="60000/min"),
        "read": env.str("API_RATE_READ", default="6000/min"),
        "batch": env.str("API_RATE_BATCH", default="30/hour"),
        "report": env.str("API_RATE_REPORT", default="120/hour"),
        "train": env.str("API_RATE_TRAIN", default="10/hour"),
        # Failed authentications (401) per client address; over it, 429.
        "auth_failure": env.str("API_RATE_AUTH_FAILURE", default="60/min"),
    },
    # Trust no X-Forwarded-For entry by default (a client could pick its own address); behind
    # N reverse proxies that set it, API_NUM_PROXIES=N.
    "NUM_PROXIES": env.int("API_NUM_PROXIES", default=0),
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Fraud detection API",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "DESCRIPTION": "Submit card transactions and get a fraud decision (approve, review or block) with a "
    "risk score, the model version and the reasons; read and report transactions; score CSV files in "
    "batch; manage model versions. Authenticate with `Authorization: Api-Key <key>`. Every error has "
    'the shape `{"error": {"code", "message", "fields"}}`.',
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # No call to the online validator (the CSP forbids it, and docs must work offline).
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None, "deepLinking": True, "displayOperationId": True},
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "DecisionEnum": "transactions.models.Decision",
        "JobStatusEnum": "api.models.ApiJob.Status",
        "ModelVersionStatusEnum": "detection.models.ModelVersion.Status",
        # The runs of retraining and of backtests share one set of statuses.
        "RetrainingRunStatusEnum": "detection.models.RetrainingRun.Status",
    },
}

# Every record goes through one handler, whose filter masks card numbers in the final text
# (message, arguments, traceback): core/logging.py. Django's own loggers lose the handlers of its
# default configuration (a console without the filter, and error mails, which would carry a
# traceback's local variables) and propagate here instead. gunicorn's logs: gunicorn.conf.py.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"card_numbers": {"()": "core.logging.CardNumberFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["card_numbers"]}
    },
    "root": {"handlers": ["console"], "level": env.str("DJANGO_LOG_LEVEL", default="INFO")},
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.server": {"handlers": [], "level": "INFO", "propagate": True},
        # A failing probe is logged once per request by core.health, without a traceback; the
        # library's own warnings would add one every few seconds while, say, the database is down.
        "health_check": {"level": "ERROR"},
    },
}
