"""Stamp every task message with its publish time, for the age of queues (webapp.monitoring.queues)."""

import time
from typing import Any

from celery.signals import before_task_publish

from webapp.monitoring.queues import SENT_AT_HEADER


@before_task_publish.connect(dispatch_uid="celeriac-publish-stamp")
def stamp_sent_at(headers: dict[str, Any] | None = None, **_: Any) -> None:
    """Record when the message was published (Unix seconds) in its headers."""
    if headers is not None:
        headers[SENT_AT_HEADER] = time.time()
