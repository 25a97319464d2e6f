"""Stamp every task message with its publish time, for the age of queues (webapp.monitoring.queues
reads the ``sent_at`` header on Redis; RabbitMQ's management API reports the AMQP timestamp
property of each queue's head message, webapp.monitoring.rabbitmq)."""

import time
from typing import Any

from celery import current_app
from celery.signals import before_task_publish

from webapp.broker import uses_rabbitmq
from webapp.monitoring.queues import SENT_AT_HEADER


@before_task_publish.connect(dispatch_uid="celeriac-publish-stamp")
def stamp_sent_at(headers: dict[str, Any] | None = None, properties: dict[str, Any] | None = None, **_: Any) -> None:
    """Record when the message was published (Unix seconds) in its headers, and on RabbitMQ in its timestamp property."""
    now = time.time()
    if headers is not None:
        headers[SENT_AT_HEADER] = now
    if properties is not None and uses_rabbitmq(current_app):
        properties.setdefault("timestamp", int(now))  # whole seconds, as AMQP carries it
