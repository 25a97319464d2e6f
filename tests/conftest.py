"""Fixtures: a migrated database, a real Redis, a live web server, the sandbox ERP on a server of
its own (as its own process in production), real workers; and the markers each test gets from
the fixtures it uses.

With DATABASE_URL and REDIS_URL set (CI: PostgreSQL and Redis on the machine) the tests use
them; otherwise a SQLite file and a private redis-server started here.

The broker: Redis (BROKER_URL unset), and for tests marked ``both_brokers`` RabbitMQ as well,
in a vhost of their own on RABBITMQ_URL (CI: the machine's RabbitMQ) or, without it, on a
private rabbitmq-server node started here.
"""

import logging
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from devtools.localrabbit import PrivateRabbit, Vhosts, start_private_rabbit
from devtools.localredis import start_private_redis
from devtools.ports import free_port
from devtools.schema import migrate_fresh
from devtools.web import gunicorn as serve_gunicorn
from devtools.workers import WorkerSet
from tests.forms import logged_in
from webapp.broker import BROKER_URL_VARIABLES
from webapp.config import database_url

pytest_plugins = ("tests.browser", "tests.private_postgres", "tests.s3_mock")

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the live server's access log drowns failures

# A test gets a marker when it uses one of these fixtures (directly or through another fixture).
# Every test that starts worker, web or sandbox processes takes their environment, worker_env.
MARKERS_BY_FIXTURE = {"workers": {"worker_env"}, "faults": {"own_workers", "fault_workers", "postgres"}, "browser": {"chromium"}}


# Broker variants of a test marked both_brokers: "redis" is the broker every other test uses
# (its parameter None is the unparametrised fixture's cache key, so they share one app).
BROKERS = {"redis": None, "rabbitmq": "rabbitmq"}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run each test marked both_brokers that starts workers once on Redis and once on RabbitMQ
    (a page or unit test in a marked module does not depend on the broker: it runs once)."""
    if metafunc.definition.get_closest_marker("both_brokers") and "worker_env" in metafunc.fixturenames:
        metafunc.parametrize("broker_url", list(BROKERS.values()), ids=list(BROKERS), indirect=True, scope="session")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test by the fixtures it uses, so `-m "not workers"` needs no hand-marking."""
    for item in items:
        used = set(getattr(item, "fixturenames", ()))
        for marker, fixtures in MARKERS_BY_FIXTURE.items():
            if used & fixtures:
                item.add_marker(marker)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """REDIS_URL if set, else a private redis-server for this test session."""
    url = os.environ.get("REDIS_URL")
    server = None
    if not url:
        server = start_private_redis(workdir=str(tmp_path_factory.mktemp("redis")))
        url = server.url
    redis.Redis.from_url(url).flushdb()
    yield url
    if server is not None:
        server.stop()


@pytest.fixture(scope="session")
def rabbitmq_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vhosts]:
    """RABBITMQ_URL's broker if set, else a private rabbitmq-server node for this session; its vhosts."""
    url = os.environ.get("RABBITMQ_URL")
    node: PrivateRabbit | None = None
    if not url:
        node = start_private_rabbit(tmp_path_factory.mktemp("rabbitmq"))
        url = node.url
    yield Vhosts(url, node=node)
    if node is not None:
        node.stop()


def session_vhost_name() -> str:
    """A vhost name of this test session: RABBITMQ_TEST_VHOST (default celeriac_test) with the pid.

    Tests never touch the broker's default vhost "/", which a machine's RabbitMQ may serve to others.
    """
    return f"{os.environ.get('RABBITMQ_TEST_VHOST', 'celeriac_test')}_{os.getpid()}_{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def rabbitmq_url(rabbitmq_server: Vhosts) -> Iterator[str]:
    """The URL of a vhost of this session on the RabbitMQ server, deleted at the end."""
    name = session_vhost_name()
    url = rabbitmq_server.add(name)
    yield url
    rabbitmq_server.delete(name)


@pytest.fixture(scope="session")
def broker_url(request: pytest.FixtureRequest) -> str:
    """The broker of the app and the workers: "" (REDIS_URL's Redis, as deployed without BROKER_URL),
    or a vhost on RabbitMQ for the rabbitmq variant of a test marked both_brokers."""
    if getattr(request, "param", None) == "rabbitmq":
        return request.getfixturevalue("rabbitmq_url")
    return ""


@pytest.fixture(scope="session")
def database_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """DATABASE_URL if set (normalised as the app does), else a SQLite file for this session."""
    if os.environ.get("DATABASE_URL"):
        return database_url()
    return "sqlite:///" + str(tmp_path_factory.mktemp("db") / "test.db")


@pytest.fixture(scope="session")
def web_port() -> int:
    """The port of the live web server (pages and the JSON API)."""
    return free_port()


@pytest.fixture(scope="session")
def sandbox_port() -> int:
    """The port of the sandbox ERP's server (never the web server's)."""
    return free_port()


@pytest.fixture(scope="session")
def erp_url(sandbox_port: int) -> str:
    """The base URL of the sandbox ERP's API, which the workers fetch from."""
    return f"http://127.0.0.1:{sandbox_port}/sandbox/api"


@pytest.fixture(scope="session")
def worker_env(database_uri: str, redis_url: str, broker_url: str, erp_url: str) -> dict[str, str]:
    """Environment for worker processes: same database and broker, fast retries, short timeouts."""
    env = {name: value for name, value in os.environ.items() if name not in BROKER_URL_VARIABLES}
    env.update(
        SECRET_KEY="test-secret",
        DATABASE_URL=database_uri,
        REDIS_URL=redis_url,
        BROKER_URL=broker_url,
        ERP_API_URL=erp_url,
        ERP_TIMEOUT="1",
        FETCH_BACKOFF_BASE="0.05",
        FETCH_BACKOFF_MAX="0.5",
        FETCH_MAX_RETRIES="10",
        BROKER_VISIBILITY_TIMEOUT="20",
        TASK_TIME_LIMIT="15",
        TASK_SOFT_TIME_LIMIT="12",
        STUCK_AFTER_SECONDS="30",
        DB_BACKOFF_MAX="2",
        DB_RETRY_MAX="60",
        SWEEP_SECONDS="3",
        OUTBOX_RELAY_SECONDS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture(scope="session")
def app(database_uri: str, redis_url: str, broker_url: str, erp_url: str) -> Iterator[Flask]:
    """The app under test, on a freshly migrated schema (migrations run, not create_all)."""
    from webapp.app import create_app

    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "SQLALCHEMY_DATABASE_URI": database_uri,
            "REDIS_URL": redis_url,
            "BROKER_URL": broker_url,
            "ERP_API_URL": erp_url,
            "SESSION_COOKIE_SECURE": False,
            "REMEMBER_COOKIE_SECURE": False,
            "SANDBOX_ENABLED": True,
            "SANDBOX_TIMEOUT_SLEEP": 2,
        }
    )
    migrate_fresh(app)
    yield app


@pytest.fixture(scope="session")
def sandbox_app(app: Flask, database_uri: str) -> Flask:
    """The sandbox ERP's own app on the session's database, as its own process runs it.

    It shares the test app's chaos settings cache, so a test's ``set_chaos`` through the test app
    takes effect at the next call, not up to a second later as between two processes.
    """
    from webapp.sandbox.app import create_sandbox_app
    from webapp.sandbox.chaos import SettingsCache

    sandbox = create_sandbox_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_uri, "SANDBOX_ENABLED": True, "SANDBOX_TIMEOUT_SLEEP": 2}
    )
    sandbox.extensions["sandbox_settings_cache"] = app.extensions.setdefault("sandbox_settings_cache", SettingsCache())
    return sandbox


@pytest.fixture(autouse=True)
def clean_tables(request: pytest.FixtureRequest) -> Iterator[None]:
    """Empty every table before each test that uses the app."""
    if "app" not in request.fixturenames:
        yield
        return
    app: Flask = request.getfixturevalue("app")
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError

    from webapp.extensions import db

    with app.app_context():
        present = set(inspect(db.engine).get_table_names())  # a model without its migration yet is caught elsewhere
        for attempt in range(5):
            try:
                for table in reversed(db.metadata.sorted_tables):
                    if table.name in present:
                        db.session.execute(table.delete())
                db.session.commit()
                break
            except OperationalError:
                # A step left queued by the previous test (a cancelled job's chains) may run on the
                # module's workers meanwhile; PostgreSQL breaks the deadlock, and emptying again wins.
                db.session.rollback()
                if attempt == 4:
                    raise
    app.extensions["fragment_cache"].clear()  # ids start again at 1 on SQLite: no render of a deleted job
    yield


def serve_in_thread(app: Flask, port: int) -> Iterator[str]:
    """Serve ``app`` over real HTTP on ``port`` in a thread (a thread per request); yield its base URL."""
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()


@pytest.fixture(scope="session")
def sandbox_server(sandbox_app: Flask, sandbox_port: int) -> Iterator[str]:
    """The sandbox ERP over real HTTP on its own server and port: the workers' ERP."""
    yield from serve_in_thread(sandbox_app, sandbox_port)


@pytest.fixture(scope="session")
def live_server(app: Flask, web_port: int, sandbox_server: str) -> Iterator[str]:
    """The app served over real HTTP in a thread: the browser's site (the sandbox ERP runs beside it)."""
    yield from serve_in_thread(app, web_port)


@pytest.fixture(scope="module")
def gunicorn(worker_env: dict[str, str], app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site under gunicorn with the Procfile's web settings (cookies over plain HTTP), on the
    tests' database and Redis; yields its URL."""
    with serve_gunicorn(dict(worker_env, COOKIE_SECURE="0"), tmp_path_factory.mktemp("gunicorn") / "gunicorn.log") as (base, _):
        yield base


@pytest.fixture(scope="module")
def workers(worker_env: dict[str, str], live_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerSet]:
    """A prefork worker (default, db queues) and a threads worker (fetch queue), as in the Procfile."""
    workers = WorkerSet(worker_env, tmp_path_factory.mktemp("workers"))
    workers.start("db", queues="default,db", pool="prefork", concurrency=2)
    workers.start("io", queues="fetch", pool="threads", concurrency=16)
    workers.wait_ready()
    yield workers
    workers.stop_all()


@pytest.fixture
def own_workers(worker_env: dict[str, str], live_server: str, tmp_path: Path) -> Iterator[WorkerSet]:
    """Workers of this test alone, so it can kill them; not started yet."""
    workers = WorkerSet(worker_env, tmp_path)
    yield workers
    workers.stop_all()


@pytest.fixture
def fault_workers(worker_env: dict[str, str], live_server: str, tmp_path: Path) -> Iterator[WorkerSet]:
    """Workers of this test alone that load tests.fault_tasks (tasks that misbehave, hooks that hold a step); not started yet."""
    workers = WorkerSet(dict(worker_env, CELERY_EXTRA_IMPORTS="tests.fault_tasks"), tmp_path)
    yield workers
    workers.stop_all()


@pytest.fixture
def no_relay(monkeypatch: pytest.MonkeyPatch) -> None:
    """Jobs are written with their outbox row but not published: no worker reads them."""
    from webapp.jobs import outbox

    monkeypatch.setattr(outbox, "relay_quietly", lambda message_ids: None)


@pytest.fixture(scope="session")
def operator_password_hash() -> str:
    """The operator's password hashed once a session, with a cheap method: check_password_hash
    reads the method from the hash, so the login form checks it as it checks a scrypt hash, without
    the fifth of a second a scrypt hash costs at each of the hundred logins and accounts the tests
    make (the same trade as Django's fast test password hasher)."""
    from werkzeug.security import generate_password_hash

    return generate_password_hash("correct horse battery", method="pbkdf2:sha256:1000")


@pytest.fixture
def operator(app: Flask, operator_password_hash: str) -> tuple[str, str]:
    """An operator account with the admin role (it may do anything); returns (username, password)."""
    from webapp.extensions import db
    from webapp.models import Operator

    with app.app_context():
        op = Operator(username="olga", password_hash=operator_password_hash, role="admin")
        db.session.add(op)
        db.session.commit()
    return "olga", "correct horse battery"


@pytest.fixture
def client(app: Flask, operator: tuple[str, str]) -> FlaskClient:
    """A test client logged in as the operator (through the real login form and its CSRF token)."""
    return logged_in(app, operator)


@pytest.fixture
def api_token(app: Flask, operator: tuple[str, str]) -> str:
    """A bearer token for the operator."""
    from webapp.extensions import db
    from webapp.models import ApiToken, Operator

    with app.app_context():
        op = db.session.execute(db.select(Operator).filter_by(username=operator[0])).scalar_one()
        row, token = ApiToken.issue(op)
        db.session.add(row)
        db.session.commit()
    return token
