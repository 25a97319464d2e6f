"""Configuration read from the environment (one class, no per-stage zoo)."""

import logging
import os
from typing import Any
from urllib.parse import urlsplit

from webapp.broker import configured_broker_url, is_amqp

# Where the Procfile's sandbox process listens unless SANDBOX_PORT says otherwise.
SANDBOX_LOCAL_URL = "http://127.0.0.1:5001/sandbox/api"


def database_url(environ: os._Environ[str] | dict[str, str] = os.environ) -> str:
    """Return DATABASE_URL with Heroku's ``postgres://`` spelling fixed for SQLAlchemy.

    With no DATABASE_URL the app runs on SQLite in the instance folder.
    """
    url = environ.get("DATABASE_URL", "").strip()
    if not url:
        return "sqlite:///celeriac.db"
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        # psycopg 3 is the driver we install; name it so SQLAlchemy does not look for psycopg2.
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def instance_path(environ: os._Environ[str] | dict[str, str] = os.environ) -> str | None:
    """INSTANCE_PATH made absolute, or None for Flask's own (``instance/`` beside the code).

    Each process may have its own: nothing in the instance folder passes between processes (only
    a relative SQLite file lives there, and SQLite is for one machine).
    """
    path = environ.get("INSTANCE_PATH", "").strip()
    return os.path.abspath(path) if path else None


def env_float(name: str, default: float) -> float:
    """Read a float setting, falling back to ``default`` when unset."""
    value = os.environ.get(name, "").strip()
    return float(value) if value else default


def env_int(name: str, default: int) -> int:
    """Read an int setting, falling back to ``default`` when unset."""
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


def env_bool(name: str, default: bool) -> bool:
    """Read a yes/no setting ("1", "true", "yes" mean yes)."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    return value in {"1", "true", "yes", "on"}


def engine_options(url: str) -> dict[str, Any]:
    """Engine options: a lock timeout for SQLite; pool sizes for PostgreSQL, whose idle
    connections are pinged before use (webapp.db_ping, installed by create_app)."""
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_size": env_int("DB_POOL_SIZE", 10), "max_overflow": env_int("DB_MAX_OVERFLOW", 30), "pool_recycle": 1800}


def settings_from_env() -> dict[str, Any]:
    """Settings for every process, read from the environment when the app is created.

    Read at call time, not import time, so a test or launcher that sets variables first wins.
    """
    url = database_url()
    secure = env_bool("COOKIE_SECURE", True)
    return {
        "SECRET_KEY": os.environ.get("SECRET_KEY", ""),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options(url),
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://localhost:6379/0"),
        # The task messages' broker: RabbitMQ (amqp://) or Redis; "" means REDIS_URL (webapp.broker).
        "BROKER_URL": configured_broker_url(),
        # RabbitMQ closes the channel of a consumer holding a delivery unacknowledged this long
        # (its consumer_timeout, 30 min by default): set it to the broker's value.
        "RABBITMQ_CONSUMER_TIMEOUT": env_float("RABBITMQ_CONSUMER_TIMEOUT", 1800.0),
        # The management HTTP API (http://user:password@host:15672): unacknowledged counts and the
        # oldest message's age on the workers page. Unset: a passive declare gives depth and consumers.
        "RABBITMQ_MANAGEMENT_URL": os.environ.get("RABBITMQ_MANAGEMENT_URL", "").strip(),
        # No default outside debug and tests (webapp.config.check_erp_api_url): a deploy that forgot
        # it must not fetch from anything but the real ERP.
        "ERP_API_URL": os.environ.get("ERP_API_URL", "").strip(),
        # The sandbox ERP (webapp.sandbox) serves synthetic data, unauthenticated: off unless enabled.
        "SANDBOX_ENABLED": env_bool("SANDBOX_ENABLED", False),
        # How long the sandbox holds a call it times out, unless the caller hangs up first.
        "SANDBOX_TIMEOUT_SLEEP": env_float("SANDBOX_TIMEOUT_SLEEP", 30.0),
        "ERP_TIMEOUT": env_float("ERP_TIMEOUT", 5.0),
        # Retry policy of the fetch steps: exponential backoff with full jitter, bounded.
        "FETCH_MAX_RETRIES": env_int("FETCH_MAX_RETRIES", 8),
        "FETCH_BACKOFF_BASE": env_float("FETCH_BACKOFF_BASE", 1.0),
        "FETCH_BACKOFF_MAX": env_float("FETCH_BACKOFF_MAX", 60.0),
        # A running job without progress this long has lost messages: the sweeper sends them again.
        # Longer than the visibility timeout, so Redis' own redelivery goes first.
        "STUCK_AFTER_SECONDS": env_int("STUCK_AFTER_SECONDS", env_int("BROKER_VISIBILITY_TIMEOUT", 3600) + 300),
        # A worker whose heartbeat is this many HEARTBEAT_SECONDS old is dead: the sweeper sends its
        # started record steps again at once (3 beats of 10 s: 30 s).
        "WORKER_DEAD_AFTER_BEATS": env_float("WORKER_DEAD_AFTER_BEATS", 3.0),
        # Record steps retry this many times, up to DB_BACKOFF_MAX seconds apart, while the database is down.
        "DB_RETRY_MAX": env_int("DB_RETRY_MAX", 30),
        "DB_BACKOFF_MAX": env_float("DB_BACKOFF_MAX", 30.0),
        # A pooled PostgreSQL connection idle this long is pinged before use (webapp.db_ping).
        "DB_PING_AFTER_IDLE_SECONDS": env_float("DB_PING_AFTER_IDLE_SECONDS", 5.0),
        "MAX_CONTENT_LENGTH": env_int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
        "RECON_MAX_UPLOAD_BYTES": env_int("RECON_MAX_UPLOAD_BYTES", 1024 * 1024 * 1024),
        # Uploads are stored in the database, or in this S3 bucket when set (webapp.storage).
        "UPLOAD_S3_BUCKET": os.environ.get("UPLOAD_S3_BUCKET", "").strip(),
        "UPLOAD_S3_PREFIX": os.environ.get("UPLOAD_S3_PREFIX", "").strip(),
        "UPLOAD_S3_ENDPOINT_URL": os.environ.get("UPLOAD_S3_ENDPOINT_URL", "").strip(),
        # A finished reconciliation job's files are deleted this many days after it ended.
        "UPLOAD_RETENTION_DAYS": env_float("UPLOAD_RETENTION_DAYS", 30.0),
        "MAX_JOB_RECORDS": env_int("MAX_JOB_RECORDS", 100_000),
        # Flow control (tasks.window): a job keeps at most this many records in the broker, sent
        # in chords of JOB_WINDOW_BATCH. Four times the io worker's threads keeps them busy with
        # one job, and lets a job started later queue behind at most that much of each other job.
        "JOB_WINDOW_RECORDS": env_int("JOB_WINDOW_RECORDS", 4 * env_int("IO_CONCURRENCY", 32)),
        "JOB_WINDOW_BATCH": env_int("JOB_WINDOW_BATCH", 32),
        "RECORDS_PER_PAGE": 50,
        # How long one render of a job's rows serves every operator watching it (0: render each time).
        "FRAGMENT_CACHE_SECONDS": env_float("FRAGMENT_CACHE_SECONDS", 1.0),
        "METRICS_LOCAL_SCRAPE": env_bool("METRICS_LOCAL_SCRAPE", False),
        # Failed logins allowed before the account, or the address, waits (Flask-Limiter's notation).
        "LOGIN_FAILURES_PER_ACCOUNT": os.environ.get("LOGIN_FAILURES_PER_ACCOUNT", "10 per 15 minutes"),
        "LOGIN_FAILURES_PER_ADDRESS": os.environ.get("LOGIN_FAILURES_PER_ADDRESS", "50 per 15 minutes"),
        # Host names this app answers to (comma-separated); others get a 400 instead of being
        # written into the API's absolute URLs.
        "TRUSTED_HOSTS": [host.strip() for host in os.environ.get("TRUSTED_HOSTS", "").split(",") if host.strip()] or None,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_SECURE": secure,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,  # the token lives as long as the session
    }


def load_settings(config: Any, test_config: Any = None) -> None:
    """Fill a Flask app's config: the environment's settings, FLASK_* variables, then ``test_config``;
    the engine options follow the database URL unless the test config gives its own."""
    config.update(settings_from_env())
    config.from_prefixed_env()
    if test_config is not None:
        config.update(test_config)
    if "SQLALCHEMY_ENGINE_OPTIONS" not in (test_config or {}):
        config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(config["SQLALCHEMY_DATABASE_URI"])


def check_erp_api_url(config: dict[str, Any], debug_or_testing: bool) -> None:
    """Refuse to start without ERP_API_URL, except in debug or tests (which get the sandbox's
    local address): a forgotten setting must stop a deploy, not import the sandbox's synthetic data."""
    if config.get("ERP_API_URL"):
        return
    if not debug_or_testing:
        raise RuntimeError(
            "ERP_API_URL is not set: export ERP_API_URL, the base URL of the ERP's REST API "
            f"(for the sandbox ERP of a local run, SANDBOX_ENABLED=1 and {SANDBOX_LOCAL_URL})"
        )
    config["ERP_API_URL"] = SANDBOX_LOCAL_URL


def redis_url_problem(url: str) -> str | None:
    """What is unsafe about a production REDIS_URL, or None.

    Whoever reaches Redis reads every job's messages and, through Celery's remote control, can
    stop or reconfigure the workers: off the local machine it needs a password and TLS.
    """
    parts = urlsplit(url)
    if parts.scheme == "unix" or parts.hostname in ("localhost", "127.0.0.1", "::1"):
        return None
    missing = [what for what, ok in (("a password", parts.password), ("TLS (rediss://)", parts.scheme == "rediss")) if not ok]
    if not missing:
        return None
    return f"REDIS_URL points at {parts.hostname} without {' and '.join(missing)}: use rediss://:PASSWORD@HOST:PORT/0"


def check_redis_url(config: dict[str, Any], debug_or_testing: bool, logger: logging.Logger) -> None:
    """Warn at start-up when a production REDIS_URL leaves Redis open (see redis_url_problem).

    A warning, not a refusal: a private network may stand in for TLS, and only the deployer knows.
    """
    problem = None if debug_or_testing else redis_url_problem(config["REDIS_URL"])
    if problem:
        logger.warning(problem)


def check_celery_timing(celery_conf: Any, config: dict[str, Any]) -> None:
    """Refuse to start when a task, or a retry waiting for its countdown, could outlive the
    broker's redelivery deadline; and when the soft limits do not nest inside the hard one.

    Redis hands an unacknowledged message to another worker once the visibility timeout passes,
    so a task still running (or a retry still waiting) past it would run twice at once. RabbitMQ
    closes the channel of a consumer that holds a delivery past its ``consumer_timeout``; a retry's
    message is delivered at once and held unacknowledged by the worker until its countdown ends,
    then runs, so the longest countdown plus the time limit must stay under it.
    """
    hard, soft = celery_conf.task_time_limit, celery_conf.task_soft_time_limit
    problems = timing_problems(celery_conf, config, hard)
    if soft is not None and hard is not None and soft >= hard:
        problems.append(f"TASK_SOFT_TIME_LIMIT ({soft}) must be below TASK_TIME_LIMIT ({hard})")
    if soft is not None and config["ERP_TIMEOUT"] >= soft:
        problems.append(f"ERP_TIMEOUT ({config['ERP_TIMEOUT']:g}) must be below TASK_SOFT_TIME_LIMIT ({soft})")
    if problems:
        raise RuntimeError("unsafe Celery timing: " + "; ".join(problems))


def timing_problems(celery_conf: Any, config: dict[str, Any], hard: float | None) -> list[str]:
    """What breaks the broker's redelivery deadline: Redis' visibility timeout or RabbitMQ's consumer timeout.

    Every countdown the tasks use is bounded by FETCH_BACKOFF_MAX (fetch and dispatch retries,
    tasks.base.backoff_seconds) or DB_BACKOFF_MAX (retries while the database is down).
    """
    longest_wait = max(config["FETCH_BACKOFF_MAX"], config["DB_BACKOFF_MAX"])
    if is_amqp(str(celery_conf.broker_url or "")):
        consumer = float(config.get("RABBITMQ_CONSUMER_TIMEOUT", 1800.0))
        if hard is None or hard >= consumer:
            return [f"TASK_TIME_LIMIT ({hard}) must be below RABBITMQ_CONSUMER_TIMEOUT ({consumer:g})"]
        if longest_wait + hard >= consumer:
            return [
                f"FETCH_BACKOFF_MAX and DB_BACKOFF_MAX ({longest_wait:g}) plus TASK_TIME_LIMIT ({hard}) must be below "
                f"RABBITMQ_CONSUMER_TIMEOUT ({consumer:g}): a retry is held unacknowledged until its countdown ends, then runs"
            ]
        return []
    visibility = float(celery_conf.broker_transport_options.get("visibility_timeout", 3600))
    problems = []
    if hard is None or hard >= visibility:
        problems.append(f"TASK_TIME_LIMIT ({hard}) must be below BROKER_VISIBILITY_TIMEOUT ({visibility:g})")
    if longest_wait >= visibility:
        problems.append(f"FETCH_BACKOFF_MAX and DB_BACKOFF_MAX must be below BROKER_VISIBILITY_TIMEOUT ({visibility:g})")
    return problems
