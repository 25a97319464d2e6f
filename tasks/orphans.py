"""Steps of dead workers: their runs, and their messages put back on their queues by the sweep.

A record whose step began on a worker that has since stopped sending heartbeats
(``WORKER_DEAD_AFTER_BEATS`` missed beats) is re-sent from that step as soon as the sweep sees it,
without waiting for the stuck-job threshold (tasks.sweeper) or Redis' visibility timeout.

Redis only: RabbitMQ hands a dead worker's unacknowledged messages back to their queues itself,
as soon as the worker's connection drops, so there is nothing to restore.
"""

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import redis
from flask import current_app

from tasks.heartbeat import interval_from_env
from webapp.broker import uses_rabbitmq
from webapp.extensions import db
from webapp.models import TERMINAL_RECORD_STATES, Job, JobRecord, JobStatus, TaskRun
from webapp.monitoring.heartbeats import dead_workers
from webapp.redis_clients import shared_redis


@dataclass(frozen=True)
class Orphan:
    """A record step that began on a worker now dead: its run, and where to start again."""

    run_id: int
    task_id: str
    step: str
    record_id: int


def orphaned_runs(limit: int = 500) -> dict[int, list[Orphan]]:
    """STARTED record steps of running jobs whose worker's heartbeat is gone, by job.

    The record must still be unfinished; a Redis that cannot be read judges nobody dead.
    """
    rows = db.session.execute(
        db.select(TaskRun.id, TaskRun.task_id, TaskRun.task_name, TaskRun.job_id, TaskRun.record_id, TaskRun.worker)
        .join(Job, Job.id == TaskRun.job_id)
        .join(JobRecord, JobRecord.id == TaskRun.record_id)
        .where(
            TaskRun.finished_at.is_(None),
            TaskRun.state == "STARTED",
            TaskRun.worker.is_not(None),
            Job.status == JobStatus.RUNNING,
            JobRecord.state.not_in(TERMINAL_RECORD_STATES),
        )
        .order_by(TaskRun.id)
        .limit(limit)
    ).all()
    db.session.rollback()
    if not rows:
        return {}
    try:
        dead = dead_workers(shared_redis(timeout=2.0), {row.worker for row in rows}, current_app.config["WORKER_DEAD_AFTER_BEATS"])
    except redis.RedisError:
        return {}
    orphans: dict[int, list[Orphan]] = defaultdict(list)
    for row in rows:
        if row.worker in dead:
            orphans[row.job_id].append(Orphan(row.id, row.task_id, row.task_name.rsplit(".", 1)[-1], row.record_id))
    return dict(orphans)


def orphaned_messages(channel: Any, dead_task_ids: set[str], older_than: float) -> dict[str, bytes]:
    """Delivery tags of unacknowledged messages that only a dead worker can hold.

    Those of steps started on a dead worker, and those delivered more than ``older_than`` seconds
    ago, not waiting for a countdown, that never ran or ran only on dead workers (a step that
    ended but died before its chain's next step was sent): with one message prefetched per
    process a live worker starts what it takes at once, so such a message sits in a dead worker's
    prefetch. The unacknowledged set is small (at most each worker's prefetch and its held retries).
    Returns the tags by task id.
    """
    qos, client = channel.qos, channel.client
    delivered = dict(client.zrange(qos.unacked_index_key, 0, -1, withscores=True))
    waiting: dict[str, bytes] = {}
    tags: dict[str, bytes] = {}
    for tag, raw in client.hscan_iter(qos.unacked_key):
        headers = json.loads(raw)[0].get("headers") or {}
        task_id = headers.get("id")
        if task_id in dead_task_ids:
            tags[task_id] = tag
        elif task_id and not headers.get("eta") and delivered.get(tag, time.time()) < time.time() - older_than:
            waiting[task_id] = tag
    if waiting:
        runs = db.session.execute(db.select(TaskRun.task_id, TaskRun.worker).where(TaskRun.task_id.in_(list(waiting)))).all()
        db.session.rollback()
        dead = dead_workers(
            shared_redis(timeout=2.0), {run.worker for run in runs if run.worker}, current_app.config["WORKER_DEAD_AFTER_BEATS"]
        )
        held_alive = {run.task_id for run in runs if run.worker not in dead}
        tags.update({task_id: tag for task_id, tag in waiting.items() if task_id not in held_alive})
    return tags


def restore_orphaned_messages() -> int:
    """Put back on their queues the messages of dead workers, as Redis would after the visibility timeout.

    The message comes back whole (its chain's next steps and its chord), marked redelivered, so
    its run's opening marks the dead run LOST and counts it towards the poison-pill cap, and the
    job's chord counts the record once. A tag already restored is gone from the set: restoring it
    again does nothing. On RabbitMQ it does nothing: the broker has requeued them already.
    """
    if uses_rabbitmq(current_app.extensions["celery"]):
        return 0
    orphans = orphaned_runs()
    dead_task_ids = {orphan.task_id for runs in orphans.values() for orphan in runs}
    older_than = current_app.config["WORKER_DEAD_AFTER_BEATS"] * interval_from_env()
    try:
        with current_app.extensions["celery"].connection_for_write() as connection:
            channel = connection.default_channel
            tags = orphaned_messages(channel, dead_task_ids, older_than)
            for tag in tags.values():
                channel.qos.restore_by_tag(tag, leftmost=True)
    except redis.RedisError:
        return 0
    for job_id, runs in orphans.items():
        restored = sum(1 for orphan in runs if orphan.task_id in tags)
        if restored:
            db.session.execute(db.update(Job).where(Job.id == job_id).values(resent_records=Job.resent_records + restored))
    db.session.commit()
    return len(tags)
