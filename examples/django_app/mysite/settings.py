"""Settings for the django_app example, read from the environment the deploy gives the app (app_env).

SECRET_KEY      required unless DEBUG is on
DEBUG           "1", "true", "yes" or "on" to turn it on; off by default
ALLOWED_HOSTS   host names the site answers to, comma separated
DATABASE_PATH   the SQLite file, relative to this project or absolute (default db.sqlite3); point it into a shared
                path so the data outlives the release
"""

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = os.environ.get("DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("Set SECRET_KEY in the environment (or DEBUG=1 for a throwaway key).")
    SECRET_KEY = "django-insecure-debug-only"

ALLOWED_HOSTS = [host.strip() for host in os.environ.get("ALLOWED_HOSTS", "").split(",") if host.strip()]

INSTALLED_APPS = [
    "django.contrib.staticfiles",
    "notes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "mysite.urls"
WSGI_APPLICATION = "mysite.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": BASE_DIR / os.environ.get("DATABASE_PATH", "db.sqlite3"),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# nginx in front sets X-Forwarded-Proto on every request, so the app knows when the client used https.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# collectstatic gathers the apps' static files here at release time; nginx serves them under STATIC_URL.
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
