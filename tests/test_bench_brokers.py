"""The benchmark's choice of brokers (scripts/bench_brokers.py): which are measured, and the line
that says why RabbitMQ's rows are missing rather than a row that was never measured."""

from pathlib import Path

import pytest

from scripts import bench
from scripts.bench_brokers import DEFAULT_RABBITMQ_URL, Broker, chosen_brokers, rabbitmq_unavailable, without_broker_choice


def test_both_brokers_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_BROKERS", raising=False)
    monkeypatch.delenv("BENCH_RABBITMQ_URL", raising=False)
    assert chosen_brokers() == [Broker("redis"), Broker("rabbitmq", DEFAULT_RABBITMQ_URL)]


def test_rabbitmq_url_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_BROKERS", " rabbitmq ")
    monkeypatch.setenv("BENCH_RABBITMQ_URL", "amqp://bench:secret@mq.example:5673/")
    assert chosen_brokers() == [Broker("rabbitmq", "amqp://bench:secret@mq.example:5673")]


def test_unknown_broker_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_BROKERS", "redis,kafka")
    with pytest.raises(ValueError, match="kafka"):
        chosen_brokers()


def test_broker_choice_of_the_caller_is_dropped() -> None:
    environ = {"BROKER_URL": "amqp://x", "CELERY_BROKER_URL": "amqp://y", "CLOUDAMQP_URL": "amqp://z", "REDIS_URL": "redis://r"}
    assert without_broker_choice(environ) == {"REDIS_URL": "redis://r"}


def test_rabbitmq_without_rabbitmqctl_is_not_measured(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no rabbitmqctl: no vhost of its own can be made
    rabbitmq = Broker("rabbitmq", DEFAULT_RABBITMQ_URL)
    assert "rabbitmqctl" in rabbitmq_unavailable(rabbitmq)

    kept = bench.reachable([Broker("redis"), rabbitmq])

    assert kept == [Broker("redis")]
    line = capsys.readouterr().out
    assert "RabbitMQ rows NOT MEASURED (broker at 127.0.0.1:5672): rabbitmqctl add_vhost:" in line
