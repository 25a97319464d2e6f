"""Configuration from the environment, and the start-up check of Celery's timing."""

import pytest
from flask import Flask

from webapp.app import create_app
from webapp.config import SANDBOX_LOCAL_URL, database_url


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("", "sqlite:///celeriac.db"),
        ("postgres://u:p@db:5432/app", "postgresql+psycopg://u:p@db:5432/app"),
        ("postgresql://u@db/app", "postgresql+psycopg://u@db/app"),
        ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ],
)
def test_database_url_spellings(given: str, expected: str) -> None:
    """Heroku's postgres:// spelling is rewritten; SQLite is the default."""
    assert database_url({"DATABASE_URL": given}) == expected


def test_secret_key_required_outside_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without SECRET_KEY a production app refuses to start, naming the variable."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})


def test_erp_api_url_required_outside_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """A production app without ERP_API_URL refuses to start, naming the variable, rather than
    fetching from the sandbox's synthetic data."""
    monkeypatch.setenv("SECRET_KEY", "a-key")
    monkeypatch.delenv("ERP_API_URL", raising=False)
    with pytest.raises(RuntimeError, match="ERP_API_URL is not set"):
        create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"})
    monkeypatch.setenv("ERP_API_URL", "https://erp.example.com/api")
    assert create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://"}).config["ERP_API_URL"] == "https://erp.example.com/api"


def test_tests_and_debug_default_to_the_local_sandbox_which_is_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without ERP_API_URL a test or debug app points at the sandbox's local port; SANDBOX_ENABLED is off by default."""
    monkeypatch.delenv("ERP_API_URL", raising=False)
    monkeypatch.delenv("SANDBOX_ENABLED", raising=False)
    config = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).config
    assert config["ERP_API_URL"] == SANDBOX_LOCAL_URL
    assert config["SANDBOX_ENABLED"] is False


@pytest.mark.parametrize(
    ("celery", "config", "message"),
    [
        ({"task_time_limit": 4000, "task_soft_time_limit": 100}, {}, "TASK_TIME_LIMIT"),
        ({"task_time_limit": 300, "task_soft_time_limit": 300}, {}, "TASK_SOFT_TIME_LIMIT"),
        ({}, {"FETCH_BACKOFF_MAX": 3600.0}, "FETCH_BACKOFF_MAX"),
        ({}, {"ERP_TIMEOUT": 500.0}, "ERP_TIMEOUT"),
    ],
)
def test_unsafe_timing_refused_at_start(celery: dict, config: dict, message: str) -> None:
    """Time limits and retry delays at or above the visibility timeout stop the app from starting."""
    with pytest.raises(RuntimeError, match=message):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "CELERY": celery, **config})


AMQP = {"BROKER_URL": "amqp://guest:guest@127.0.0.1:5672/celeriac"}


@pytest.mark.parametrize(
    ("celery", "config", "message"),
    [
        ({"task_time_limit": 1800}, {}, "TASK_TIME_LIMIT .1800. must be below RABBITMQ_CONSUMER_TIMEOUT .1800."),
        ({}, {"RABBITMQ_CONSUMER_TIMEOUT": 300.0}, "TASK_TIME_LIMIT .300. must be below RABBITMQ_CONSUMER_TIMEOUT"),
        ({}, {"FETCH_BACKOFF_MAX": 1600.0}, "FETCH_BACKOFF_MAX and DB_BACKOFF_MAX .1600. plus TASK_TIME_LIMIT .300."),
        ({}, {"DB_BACKOFF_MAX": 900.0, "RABBITMQ_CONSUMER_TIMEOUT": 1200.0}, "a retry is held unacknowledged"),
    ],
)
def test_rabbitmq_timing_refused_against_the_consumer_timeout(celery: dict, config: dict, message: str) -> None:
    """On RabbitMQ a task's time limit, and a retry's countdown plus it, must stay under consumer_timeout."""
    with pytest.raises(RuntimeError, match=message):
        create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "CELERY": celery, **AMQP, **config})


def test_rabbitmq_ignores_the_visibility_timeout() -> None:
    """Redis' visibility timeout means nothing on RabbitMQ: a time limit above it starts, under the consumer timeout."""
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "CELERY": {"task_time_limit": 1000}, "FETCH_BACKOFF_MAX": 700.0}
    conf = create_app(config | AMQP).extensions["celery"].conf
    assert conf.broker_url.startswith("amqp://") and conf.task_time_limit == 1000
    with pytest.raises(RuntimeError, match="BROKER_VISIBILITY_TIMEOUT"):
        create_app(config | {"CELERY": {"task_time_limit": 1000, "broker_transport_options": {"visibility_timeout": 900}}})


def test_celery_settings_for_at_least_once() -> None:
    """Late acks, requeue on worker loss, prefetch 1 and JSON only are in force."""
    conf = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).extensions["celery"].conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert conf.task_routes["tasks.workflows.fetch_po"]["queue"] == "fetch"


def test_migrations_match_the_models(app: Flask) -> None:
    """The committed migrations build exactly the schema the models describe."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from webapp.extensions import db

    with app.app_context(), db.engine.connect() as connection:
        diffs = compare_metadata(MigrationContext.configure(connection), db.metadata)
    assert diffs == []


def test_state_counts_follow_every_change_of_records(app: Flask) -> None:
    """The trigger-kept counts equal a GROUP BY of the records after inserts, updates, bulk updates and deletes."""
    from webapp.extensions import db
    from webapp.jobs.progress import state_counts
    from webapp.models import Job, JobRecord

    def exact(job_id: int) -> dict[str, int]:
        rows = db.session.execute(
            db.select(JobRecord.state, db.func.count()).where(JobRecord.job_id == job_id).group_by(JobRecord.state)
        ).all()
        return {state: n for state, n in rows}

    with app.app_context():
        job = Job(kind="purchase_orders", source="upload", total=40)
        db.session.add(job)
        db.session.flush()
        db.session.execute(
            db.insert(JobRecord), [{"job_id": job.id, "seq": i, "key": f"PO-{100000 + i}", "state": "pending"} for i in range(1, 41)]
        )
        db.session.commit()
        first = db.session.execute(db.select(JobRecord).where(JobRecord.job_id == job.id, JobRecord.seq == 1)).scalar_one()
        first.state = "running"
        db.session.commit()
        first.error = "an update that keeps the state"
        db.session.commit()
        db.session.execute(db.update(JobRecord).where(JobRecord.job_id == job.id, JobRecord.seq <= 25).values(state="succeeded"))
        db.session.execute(db.update(JobRecord).where(JobRecord.job_id == job.id, JobRecord.seq > 35).values(state="failed"))
        db.session.execute(db.delete(JobRecord).where(JobRecord.job_id == job.id, JobRecord.seq == 40))
        db.session.commit()
        counts = {state: n for state, n in state_counts([job.id])[job.id].items() if n}
        assert counts == exact(job.id) == {"succeeded": 25, "pending": 10, "failed": 4}
