"""The environment is checked before anything reads it: a bad value is one line, not a traceback.

``config.settings`` calls :func:`exit_if_misconfigured` before it reads a variable, so every
entry point (``make run``, ``manage.py``, the web server, the Celery worker and beat) stops the
same way: one line per bad variable on stderr, naming it, what is wrong and a good value, and
exit status 78 (EX_CONFIG). ``python -m config.env_check`` runs the same check on its own;
``bin/web`` does so before the server forks workers that would each fail and be respawned.

Checked: DATABASE_URL (unset means SQLite), CELERY_BROKER_URL (unset means in-process tasks),
the ``*_FILE`` secrets, and SECRET_KEY when DEBUG is false (production). The secret is not
required under pytest (Django's tests run with DEBUG false) nor for ``manage.py makemigrations``
and ``collectstatic``, which never read it and run where no secret is mounted (``make lint``,
an image build).
"""

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

EX_CONFIG = 78

DATABASE_EXAMPLE = "DATABASE_URL=postgres://postgres@127.0.0.1:5432/promotions"
BROKER_EXAMPLE = "CELERY_BROKER_URL=redis://127.0.0.1:6379/0"
SECRET_EXAMPLE = "SECRET_KEY=\"$(python -c 'import secrets; print(secrets.token_urlsafe(50))')\""
# Engines this project runs on (settings.py: PostgreSQL, or SQLite for the demo).
ENGINES = ("django.db.backends.postgresql", "django.db.backends.sqlite3")
# Commands that never read SECRET_KEY and run where no secret is mounted.
NO_SECRET_COMMANDS = {"makemigrations", "collectstatic"}
TRUE = {"true", "on", "ok", "y", "yes", "1"}  # django-environ's booleans


def _scheme(value: str) -> str | None:
    return value.split("://", 1)[0] if "://" in value else None


def _database_problem(value: str) -> str | None:
    import environ

    schemes = sorted(
        scheme for scheme, engine in environ.Env.DB_SCHEMES.items() if engine in ENGINES
    )
    expected = "postgres://user:password@host:5432/name or sqlite:////absolute/path.sqlite3"
    if not value.strip():
        return f"DATABASE_URL is set but empty (unset it for SQLite); e.g. {DATABASE_EXAMPLE}"
    scheme = _scheme(value)
    if scheme is None:
        return f"DATABASE_URL has no scheme (expected {expected}); e.g. {DATABASE_EXAMPLE}"
    if scheme not in schemes:
        return (
            f"DATABASE_URL has the unknown scheme '{scheme}://' (use one of "
            f"{', '.join(s + '://' for s in schemes)}); e.g. {DATABASE_EXAMPLE}"
        )
    try:
        config = environ.Env.db_url_config(value)
    except Exception as exc:  # ValueError for a bad port, and whatever else urlparse refuses
        return f"DATABASE_URL could not be parsed ({exc}); e.g. {DATABASE_EXAMPLE}"
    if config["ENGINE"] == ENGINES[0] and not config.get("NAME"):
        return f"DATABASE_URL names no database (the path after the host); e.g. {DATABASE_EXAMPLE}"
    return None


def _broker_problem(value: str) -> str | None:
    from kombu.transport import TRANSPORT_ALIASES

    if not value:
        return None  # tasks run in-process
    for url in value.split(";"):  # kombu's fail-over list
        scheme = _scheme(url.strip())
        if scheme is None:
            return (
                f"CELERY_BROKER_URL has no scheme (expected redis://host:6379/0 or "
                f"amqp://user:password@host:5672//; unset it for in-process tasks); "
                f"e.g. {BROKER_EXAMPLE}"
            )
        if scheme not in TRANSPORT_ALIASES:
            return (
                f"CELERY_BROKER_URL has the unknown scheme '{scheme}://' (use redis://, "
                f"rediss://, amqp:// or another kombu transport); e.g. {BROKER_EXAMPLE}"
            )
        try:
            parts = urlsplit(url.strip())
            parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
        except ValueError as exc:
            return f"CELERY_BROKER_URL could not be parsed ({exc}); e.g. {BROKER_EXAMPLE}"
        database = parts.path.strip("/")
        if scheme in ("redis", "rediss") and database and not database.isdigit():
            return (
                f"CELERY_BROKER_URL names the Redis database '{database}', which is not a "
                f"number; e.g. {BROKER_EXAMPLE}"
            )
    return None


def _file_problem(name: str, path: str) -> str | None:
    try:
        content = Path(path).read_text().strip()
    except OSError as exc:
        return f"{name} points at a file that cannot be read ({exc.strerror}: {path}); e.g. {name}=/run/secrets/{name[:-5].lower()}"
    if not content:
        return (
            f"{name} points at an empty file ({path}); e.g. {name}=/run/secrets/{name[:-5].lower()}"
        )
    return None


def _secret_required(environ: Mapping[str, str], argv: list[str]) -> bool:
    if environ.get("DEBUG", "").strip().lower() in TRUE:
        return False
    if environ.get("PYTEST_VERSION"):  # the test suite, and the processes it starts
        return False
    command = argv[1] if len(argv) > 1 and Path(argv[0]).name == "manage.py" else None
    return command not in NO_SECRET_COMMANDS


def problems(environ: Mapping[str, str] | None = None, argv: list[str] | None = None) -> list[str]:
    """One line per variable that would make start-up fail (or run insecurely)."""
    environ = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv
    found = []
    if "DATABASE_URL" in environ:
        found.append(_database_problem(environ["DATABASE_URL"]))
    found.append(_broker_problem(environ.get("CELERY_BROKER_URL", "")))
    for name in ("SECRET_KEY_FILE", "METRICS_TOKEN_FILE"):
        if environ.get(name):
            found.append(_file_problem(name, environ[name]))
    has_secret = environ.get("SECRET_KEY", "").strip() or environ.get("SECRET_KEY_FILE")
    if not has_secret and _secret_required(environ, argv):
        found.append(
            "SECRET_KEY is not set and DEBUG is false (production); set SECRET_KEY (or "
            f"SECRET_KEY_FILE), or DEBUG=true to develop; e.g. {SECRET_EXAMPLE}"
        )
    return [line for line in found if line]


def exit_if_misconfigured() -> None:
    """Print the problems, one line each, and exit with EX_CONFIG; return if there are none."""
    found = problems()
    if found:
        sys.stderr.write("".join(f"{line}\n" for line in found))
        sys.stderr.flush()
        raise SystemExit(EX_CONFIG)


if __name__ == "__main__":
    exit_if_misconfigured()
