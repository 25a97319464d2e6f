"""The workers page's task table and its controls without a worker: what is refused, in words, and
the plain sentence for a worker that does not answer."""

import re
from datetime import timedelta
from html import unescape

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import csrf_token
from webapp.extensions import db
from webapp.models import AuditEvent, TaskRun, utcnow
from webapp.monitoring import worker_control

HTMX = {"HX-Request": "true"}


def add_run(app: Flask, name: str, state: str, seconds: float, minutes_ago: float) -> None:
    """A finished task run of ``name`` that took ``seconds`` and ended ``minutes_ago``."""
    end = utcnow() - timedelta(minutes=minutes_ago)
    with app.app_context():
        db.session.add(
            TaskRun(
                task_id=f"{name}-{state}-{seconds}-{minutes_ago}",
                task_name=f"tasks.workflows.{name}",
                state=state,
                started_at=end - timedelta(seconds=seconds),
                finished_at=end,
            )
        )
        db.session.commit()


def test_runs_per_task_over_the_last_15_minutes(app: Flask, client: FlaskClient) -> None:
    for seconds in (0.2, 0.4, 0.6):
        add_run(app, "fetch_po", "SUCCESS", seconds, 2)
    add_run(app, "fetch_po", "RETRY", 1.5, 3)
    add_run(app, "fetch_po", "LOST", 200.0, 4)  # its duration is not a run time: left out of the times
    add_run(app, "make_po", "FAILURE", 0.05, 1)
    add_run(app, "make_po", "SUCCESS", 0.05, 20)  # older than the window
    html = client.get("/ops/workers/panel").get_data(as_text=True)
    rows = dict(re.findall(r'<tr class="task-stat" data-task="(\w+)" data-runs="(\d+)"', html))
    assert rows == {"fetch_po": "5", "make_po": "1"}
    fetch = re.search(r'data-task="fetch_po".*?</tr>', html, re.S).group(0)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", fetch)
    assert cells[:6] == ["fetch_po", "5", "3", "1", "1", "0"]
    assert cells[6] == "675 ms"  # mean of 0.2, 0.4, 0.6 and 1.5 s; the lost run's 200 s left out
    assert cells[9] == "1.5 s"
    assert 'data-task="make_po" data-runs="1" data-failed="1"' in html


def test_the_page_says_controls_do_not_outlive_a_restart(client: FlaskClient) -> None:
    html = client.get("/ops/workers").get_data(as_text=True)
    assert 'id="worker-controls"' in html and "last only until the worker restarts" in html
    assert "<h2>Worker controls</h2>" in html and "hx-confirm" not in html.split('id="worker-controls"')[0]  # outside the polled panel


@pytest.mark.parametrize(
    "path",
    ["/ops/workers/nobody@nowhere/grow", "/ops/workers/nobody@nowhere/shrink", "/ops/workers/nobody@nowhere/shutdown"]
    + ["/ops/workers/nobody@nowhere/queues/fetch/pause", "/ops/workers/nobody@nowhere/queues/fetch/resume"],
)
def test_a_control_for_a_worker_not_online_is_refused_and_not_audited(app: Flask, client: FlaskClient, path: str) -> None:
    token = csrf_token(client.get("/ops/workers").data)
    assert client.post(path).status_code == 400  # no CSRF token: nothing sent
    page = client.post(path, data={"csrf_token": token})
    assert page.status_code == 404 and "No online worker is named 'nobody@nowhere'" in unescape(page.get_data(as_text=True))
    fragment = client.post(path, headers=HTMX | {"X-CSRFToken": token})
    text = unescape(fragment.get_data(as_text=True))
    assert fragment.status_code == 200 and text.startswith('<section id="worker-controls"') and "Not sent: No online worker" in text
    with app.app_context():
        assert db.session.execute(db.select(db.func.count()).select_from(AuditEvent)).scalar_one() == 0


def test_silence_is_said_plainly(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """A command to a worker nobody runs goes through the real broker and comes back unanswered."""
    monkeypatch.setattr(worker_control, "REPLY_SECONDS", 0.5)
    with app.app_context():
        outcome = worker_control.send("nobody@nowhere", "worker_queue_pause", "fetch")
        shutdown = worker_control.send("nobody@nowhere", "worker_shutdown")
    assert not outcome.answered and not outcome.ok
    assert outcome.sentence == (
        "nobody@nowhere: stop taking messages from queue fetch: no reply in 0.5 s: "
        "the worker may be stopped or unreachable, and nothing is known to have changed"
    )
    assert not shutdown.answered and "no shutdown was sent" in shutdown.sentence


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ([{"w@h": {"ok": "pool will grow"}}], (True, True, "the worker replied “pool will grow”")),
        (
            [{"w@h": {"error": "Can't shrink pool. All processes busy!"}}],
            (True, False, "the worker refused: “Can't shrink pool. All processes busy!”"),
        ),
        ([{"other@h": {"ok": "pong"}}], (False, False, "no reply in")),
    ],
)
def test_a_reply_is_read_as_the_worker_gave_it(reply: list[dict[str, object]], expected: tuple[bool, bool, str]) -> None:
    answered, ok, text = worker_control.read_reply("w@h", reply)
    assert (answered, ok) == expected[:2] and text.startswith(expected[2])
