"""Worker controls on the workers page: grow or shrink a pool, pause or resume a queue, warm shutdown.

Each is a POST with the CSRF token, confirmed in the browser (hx-confirm), sent to one worker
through Celery's remote control, and recorded in the audit trail with the worker's reply (or
that none came). An htmx request gets the controls section again with the outcome in it; a plain
form post is redirected to the workers page with the outcome flashed.
"""

import redis
from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_login import login_required
from kombu.exceptions import OperationalError

from webapp import audit
from webapp.extensions import db
from webapp.monitoring.heartbeats import WorkerStatus, read_workers
from webapp.monitoring.worker_control import REPLY_SECONDS, Outcome, send
from webapp.redis_clients import shared_redis

bp = Blueprint("worker_controls", __name__, url_prefix="/ops/workers")


class Refused(Exception):
    """A control not sent, with the HTTP status and the reason in words."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def wants_fragment() -> bool:
    """True for htmx requests (not boosted), which get the controls section back."""
    return request.headers.get("HX-Request") == "true" and request.headers.get("HX-Boosted") != "true"


def controls_section(outcome: Outcome | None = None, refusal: str | None = None) -> str:
    """The controls section with the outcome of the last control (or why it was not sent)."""
    try:
        workers = online_workers()
    except Refused:
        workers = []
    return render_template("ops/_controls.html", controls_workers=workers, outcome=outcome, refusal=refusal, reply_seconds=REPLY_SECONDS)


@bp.errorhandler(Refused)
def refused(exc: Refused) -> tuple[str, int]:
    """htmx gets the section with the reason (a 200, so htmx 2 and 4 both swap it); a form post the error page."""
    if wants_fragment():
        return controls_section(refusal=exc.reason), 200
    return render_template("error.html", status=exc.status, title="Not sent", message=exc.reason), exc.status


def online_workers() -> list[WorkerStatus]:
    """The workers whose heartbeat is fresh; 503 in words when Redis does not answer."""
    try:
        return [worker for worker in read_workers(shared_redis(timeout=2)) if worker.is_online]
    except redis.RedisError as exc:
        raise Refused(503, f"Redis did not answer, so no worker can be reached: {exc}") from None


def online_worker(hostname: str) -> WorkerStatus:
    """The online worker of this name; 404 in words when there is none."""
    found = next((worker for worker in online_workers() if worker.hostname == hostname), None)
    if found is None:
        raise Refused(404, f"No online worker is named {hostname[:200]!r}: it stopped, or its heartbeat is late. Reload the page.")
    return found


def answer(worker: str, action: str, queue: str | None = None) -> Response | str:
    """Send the control, audit its outcome, then show it: the controls section to htmx, else a flash and the workers page."""
    try:
        outcome = send(worker, action, queue)
    except (OSError, redis.RedisError, OperationalError) as exc:
        raise Refused(503, f"the broker did not take the command, so nothing was sent: {exc}") from None
    audit.record(outcome.command.action, outcome.sentence)
    db.session.commit()
    if wants_fragment():
        return controls_section(outcome)
    flash(outcome.sentence, "success" if outcome.ok else "error")
    return redirect(url_for("ops.workers"))


@bp.post("/<worker>/grow")
@login_required
def grow(worker: str) -> Response | str:
    """Grow a prefork worker's pool by one process."""
    found = online_worker(worker)
    if found.pool != "prefork":
        raise Refused(409, f"{worker} runs a {found.pool} pool, whose size is fixed when it starts (-c); only a prefork pool grows.")
    return answer(worker, "worker_pool_grow")


@bp.post("/<worker>/shrink")
@login_required
def shrink(worker: str) -> Response | str:
    """Shrink a prefork worker's pool by one process (never below one)."""
    found = online_worker(worker)
    if found.pool != "prefork":
        raise Refused(409, f"{worker} runs a {found.pool} pool, whose size is fixed when it starts (-c); only a prefork pool shrinks.")
    if (found.concurrency or 0) <= 1:
        raise Refused(409, f"{worker} has one process left; a pool does not shrink below one (pause its queues instead).")
    return answer(worker, "worker_pool_shrink")


def known_queue(found: WorkerStatus, queue: str) -> str:
    """``queue`` if the worker consumes it or paused it; 404 in words otherwise."""
    if queue not in found.queues + found.paused:
        raise Refused(404, f"{found.hostname} does not consume a queue named {queue[:100]!r}.")
    return queue


@bp.post("/<worker>/queues/<queue>/pause")
@login_required
def pause(worker: str, queue: str) -> Response | str:
    """Stop the worker taking messages from one of its queues (they wait in the broker)."""
    return answer(worker, "worker_queue_pause", known_queue(online_worker(worker), queue))


@bp.post("/<worker>/queues/<queue>/resume")
@login_required
def resume(worker: str, queue: str) -> Response | str:
    """Let the worker take messages from a paused queue again."""
    return answer(worker, "worker_queue_resume", known_queue(online_worker(worker), queue))


@bp.post("/<worker>/shutdown")
@login_required
def shutdown(worker: str) -> Response | str:
    """Warm shutdown: the worker finishes its running tasks, takes no new one, and stops."""
    return answer(online_worker(worker).hostname, "worker_shutdown")
