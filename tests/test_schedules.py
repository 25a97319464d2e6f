"""Scheduled jobs: cron checks, next fire times, claiming, overlap, pause/resume, run now, pages, beat task."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from celery.schedules import crontab
from flask import Flask
from flask.testing import FlaskClient

from devtools.workers import WorkerSet
from tests.forms import csrf_token
from tests.jobs import finished_job
from tests.schedules import add_schedule, count, runs_of
from webapp.extensions import db
from webapp.jobs import schedule_fires
from webapp.jobs.schedules import describe_cron
from webapp.models import Job, Operator, Schedule, ScheduleRun, utcnow
from webapp.models.schedules import CronError, next_fire, parse_cron


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 25 * * *", "hour: 25 is out of range 0–23"),
        ("60 * * * *", "minute: 60 is out of range 0–59"),
        ("0 0 0 * *", "day of month: 0 is out of range 1–31"),
        ("0 0 * 13 *", "month: 13 is out of range 1–12"),
        ("0 0 * * 7", "day of week: 7 is out of range 0–6 (0 = Sunday)"),
        ("0 0 * * fry", "day of week: 'fry' is not a number or a name (sun–sat)"),
        ("*/0 * * * *", "minute: the step in '*/0' must be a whole number of at least 1"),
        ("0 17-9 * * *", "hour: the range '17-9' runs backwards"),
        ("0 0 * *", "cron: expected 5 fields (minute hour day-of-month month day-of-week), got 4"),
        ("0 0 30 2 *", "day of month: no month given has that day (e.g. 30 February)"),
        ("1,,2 * * * *", "minute: '' is not understood"),
    ],
)
def test_bad_cron_names_the_field(cron: str, message: str) -> None:
    """Each mistake is refused with the field and the problem in words."""
    with pytest.raises(CronError) as caught:
        parse_cron(cron)
    assert str(caught.value).startswith(message)


@pytest.mark.parametrize(
    ("cron", "after", "expected"),
    [
        ("*/5 * * * *", datetime(2026, 3, 6, 6, 32, 10), datetime(2026, 3, 6, 6, 35)),
        ("*/5 * * * *", datetime(2026, 3, 6, 6, 35), datetime(2026, 3, 6, 6, 40)),  # strictly after
        ("*/5 * * * *", datetime(2026, 12, 31, 23, 58), datetime(2027, 1, 1, 0, 0)),
        ("30 6 * * 1-5", datetime(2026, 3, 6, 6, 29, 59), datetime(2026, 3, 6, 6, 30)),  # a Friday
        ("30 6 * * mon-fri", datetime(2026, 3, 6, 6, 30), datetime(2026, 3, 9, 6, 30)),  # → Monday
        ("30 6 * * 1-5", datetime(2026, 3, 7, 12, 0), datetime(2026, 3, 9, 6, 30)),  # Saturday → Monday
        ("0 0 1 * *", datetime(2026, 3, 6, 6, 30), datetime(2026, 4, 1, 0, 0)),
        ("0 0 1 * *", datetime(2026, 12, 15), datetime(2027, 1, 1, 0, 0)),
        ("0 0 1 * *", datetime(2026, 4, 1, 0, 0), datetime(2026, 5, 1, 0, 0)),
        ("0 9 1-7 * mon", datetime(2026, 3, 6), datetime(2026, 4, 6, 9, 0)),  # the first Monday
        ("0 0 29 2 *", datetime(2026, 3, 1), datetime(2028, 2, 29, 0, 0)),
        ("15 10,22 * jan,jul *", datetime(2026, 1, 31, 22, 15), datetime(2026, 7, 1, 10, 15)),
    ],
)
def test_next_fire(cron: str, after: datetime, expected: datetime) -> None:
    """The next fire time is the first matching minute after the given moment (UTC)."""
    assert next_fire(parse_cron(cron), after) == expected


@pytest.mark.parametrize(
    ("cron", "after"),
    [
        ("*/5 * * * *", datetime(2026, 3, 6, 6, 32, 10)),
        ("30 6 * * 1-5", datetime(2026, 3, 6, 6, 30)),
        ("0 0 1 * *", datetime(2026, 3, 6, 6, 30)),
        ("0 9 1-7 * mon", datetime(2026, 3, 6)),
        ("45 */6 * * *", datetime(2026, 3, 6, 23, 50)),
    ],
)
def test_next_fire_agrees_with_celery(cron: str, after: datetime) -> None:
    """Celery's own crontab arithmetic gives the same next fire time."""
    moment = after.replace(tzinfo=UTC)
    celery_view = crontab.from_string(cron)
    celery_view.nowfun = lambda: moment
    expected = (moment + celery_view.remaining_estimate(moment)).replace(tzinfo=None)
    assert next_fire(parse_cron(cron), after) == expected


@pytest.mark.parametrize(
    ("cron", "hint"),
    [
        ("*/5 * * * *", "every 5 minutes (UTC)"),
        ("30 6 * * 1-5", "at 06:30 on Mon–Fri (UTC)"),
        ("0 0 1 * *", "at 00:00 on day 1 of the month (UTC)"),
        ("0 3 * * *", "at 03:00 every day (UTC)"),
        ("0 9 1-7 * mon", "at 09:00 on day 1–7 of the month if it is a Mon (UTC)"),
        ("0 25 * * *", ""),
    ],
)
def test_cron_hint(cron: str, hint: str) -> None:
    """The table explains each cron expression in words."""
    assert describe_cron(cron) == hint


def test_due_schedule_fires_once_when_ticked_twice(app: Flask, no_relay: None) -> None:
    """The second tick finds nothing due: the claim moved next_run_at past now."""
    with app.app_context():
        schedule_id = add_schedule()
        now = utcnow()
        first = schedule_fires.fire_due(now)
        second = schedule_fires.fire_due(now)
        schedule = db.session.get(Schedule, schedule_id)
        job = db.session.execute(db.select(Job)).scalar_one()
        assert first == [f"nightly POs: started job #{job.id}"]
        assert second == []
        assert (job.kind, job.source, job.input_name, job.created_by_id) == ("purchase_orders", "pending", "schedule: nightly POs", None)
        assert schedule.last_job_id == job.id and schedule.last_outcome == f"started job #{job.id}"
        assert schedule.next_run_at == next_fire(parse_cron("*/5 * * * *"), now) and schedule.last_run_at == now
        assert [(run.trigger, run.outcome, run.job_id) for run in runs_of(schedule_id)] == [("schedule", f"started job #{job.id}", job.id)]


def test_concurrent_ticks_fire_a_schedule_once(app: Flask, no_relay: None) -> None:
    """Two beats ticking at the same moment: only one claim succeeds, so one job starts."""
    with app.app_context():
        schedule_id = add_schedule()
    now, start = utcnow(), threading.Barrier(4)
    results: list[list[str]] = []

    def tick() -> None:
        with app.app_context():
            start.wait()
            results.append(schedule_fires.fire_due(now))

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(len(result) for result in results) == [0, 0, 0, 1]
    with app.app_context():
        assert count(Job) == 1
        assert len(runs_of(schedule_id)) == 1


def test_a_claim_already_taken_is_left_alone(app: Flask, no_relay: None) -> None:
    """A tick that read the schedule before another tick claimed it does not fire it again."""
    with app.app_context():
        schedule_id = add_schedule()
        now = utcnow()
        [(_, due_at)] = schedule_fires.due_schedules(now)
        assert schedule_fires.claim(schedule_id, due_at, now)
        schedule_fires.fire(schedule_id, now, schedule_fires.BEAT)
        assert not schedule_fires.claim(schedule_id, due_at, now)
        assert count(Job) == 1


def test_missed_fires_collapse_into_one_run(app: Flask, no_relay: None) -> None:
    """Beat down for three days: one job, and the next run is the next time after now."""
    with app.app_context():
        schedule_id = add_schedule(due_in=timedelta(days=-3))
        now = utcnow()
        assert len(schedule_fires.fire_due(now)) == 1
        assert count(Job) == 1
        assert db.session.get(Schedule, schedule_id).next_run_at > now


@pytest.mark.parametrize(("status", "skipped"), [("queued", True), ("running", True), ("succeeded", False), ("failed", False)])
def test_previous_job_still_active_is_skipped(app: Flask, no_relay: None, status: str, skipped: bool) -> None:
    """While the schedule's last job is queued or running, a fire records a skip and starts nothing."""
    with app.app_context():
        previous = Job(kind="purchase_orders", source="pending", status=status)
        db.session.add(previous)
        db.session.commit()
        schedule_id = add_schedule(last_job_id=previous.id)
        now = utcnow()
        [line] = schedule_fires.fire_due(now)
        schedule = db.session.get(Schedule, schedule_id)
        [run] = runs_of(schedule_id)
        if skipped:
            assert line == f"nightly POs: skipped: job #{previous.id} still running"
            assert (run.outcome, run.job_id, count(Job)) == (f"skipped: job #{previous.id} still running", None, 1)
            assert schedule.last_job_id == previous.id
        else:
            assert run.outcome.startswith("started job #") and count(Job) == 2
        assert schedule.next_run_at > now  # a skip still moves on to the next fire time


def test_job_started_but_not_yet_recorded_counts_as_running(app: Flask, no_relay: None) -> None:
    """A running job of this schedule (matched by its input name) blocks the next fire too."""
    with app.app_context():
        db.session.add(Job(kind="purchase_orders", source="pending", status="running", input_name="schedule: nightly POs"))
        db.session.commit()
        schedule_id = add_schedule()
        schedule_fires.fire_due(utcnow())
        assert runs_of(schedule_id)[0].outcome.startswith("skipped: job #")


def test_failed_launch_is_recorded_and_waits_for_the_next_time(app: Flask, no_relay: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A fire that raises is recorded as failed and moves on to its next time (no retry every tick)."""

    def broken(*args: object, **kwargs: object) -> Job:
        raise RuntimeError("database went away")

    monkeypatch.setattr(schedule_fires, "launch_job", broken)
    with app.app_context():
        schedule_id = add_schedule()
        now = utcnow()
        assert schedule_fires.fire_due(now) == ["nightly POs: failed: RuntimeError: database went away"]
        assert schedule_fires.fire_due(now) == []
        schedule = db.session.get(Schedule, schedule_id)
        assert schedule.last_outcome == "failed: RuntimeError: database went away" and schedule.next_run_at > now
        assert len(runs_of(schedule_id)) == 1 and count(Job) == 0


def test_refresh_boms_starts_a_bom_job_of_every_erp_product(app: Flask, no_relay: None) -> None:
    """The refresh-BOMs schedule starts a bills-of-materials job whose keys the ERP lists."""
    with app.app_context():
        add_schedule(name="BOMs", job_kind="refresh_boms", cron="0 2 * * *")
        schedule_fires.fire_due(utcnow())
        job = db.session.execute(db.select(Job)).scalar_one()
        assert (job.kind, job.source, job.input_name) == ("bills_of_materials", "erp_products", "schedule: BOMs")


def test_pause_stops_firing_and_resume_recomputes(app: Flask, no_relay: None) -> None:
    """A paused schedule is never due; resuming sets the next run from now, not from before."""
    with app.app_context():
        schedule_id = add_schedule(cron="0 0 1 1 *", due_in=timedelta(days=-30))
        schedule = db.session.get(Schedule, schedule_id)
        schedule.pause("olga")
        db.session.commit()
        assert schedule_fires.fire_due(utcnow() + timedelta(days=800)) == []
        schedule = db.session.get(Schedule, schedule_id)
        assert (schedule.enabled, schedule.next_run_at) == (False, None)
        schedule.resume("ivan")
        db.session.commit()
        schedule = db.session.get(Schedule, schedule_id)
        assert schedule.next_run_at == next_fire(parse_cron("0 0 1 1 *"), utcnow())
        assert (schedule.enabled, schedule.updated_by) == (True, "ivan")
        assert count(Job) == 0


def post(client: FlaskClient, path: str, data: dict[str, str] | None = None, token: bool = True) -> tuple[int, str]:
    """POST a form (with the page's CSRF token unless told not to); return (status, body)."""
    form = dict(data or {})
    if token:
        form["csrf_token"] = csrf_token(client.get("/schedules/").data)
    response = client.post(path, data=form)
    return response.status_code, response.get_data(as_text=True)


def test_run_now_starts_a_job_then_skips_while_it_runs(app: Flask, client: FlaskClient, no_relay: None) -> None:
    """Run now launches like a fire (next run unchanged); a second click skips while the job is queued."""
    with app.app_context():
        schedule_id = add_schedule(due_in=timedelta(hours=1))
        next_run = db.session.get(Schedule, schedule_id).next_run_at
    assert post(client, f"/schedules/{schedule_id}/run")[0] == 302
    page = client.get("/schedules/").get_data(as_text=True)
    with app.app_context():
        job = db.session.execute(db.select(Job)).scalar_one()
        assert f"nightly POs · started job #{job.id}" in page
        assert f'href="/jobs/{job.id}"' in page
        assert db.session.get(Operator, job.created_by_id).username == "olga"
        assert db.session.get(Schedule, schedule_id).next_run_at == next_run
    post(client, f"/schedules/{schedule_id}/run")
    assert f"skipped: job #{job.id} still running" in client.get("/schedules/").get_data(as_text=True)
    with app.app_context():
        assert [run.trigger for run in runs_of(schedule_id)] == ["run now by olga", "run now by olga"]
        assert count(Job) == 1


@pytest.mark.parametrize("path", ["/schedules/", "/schedules/table", "/schedules/1"])
def test_pages_require_login(app: Flask, path: str) -> None:
    """Anonymous visitors are sent to the login page."""
    response = app.test_client().get(path)
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


@pytest.mark.parametrize("action", ["pause", "resume", "run", "delete"])
def test_actions_require_login(app: Flask, action: str) -> None:
    """A POST with a valid CSRF token but no login changes nothing."""
    with app.app_context():
        schedule_id = add_schedule()
    anonymous = app.test_client()
    token = csrf_token(anonymous.get("/login").data)
    response = anonymous.post(f"/schedules/{schedule_id}/{action}", data={"csrf_token": token})
    assert response.status_code == 302 and "/login" in response.headers["Location"]
    with app.app_context():
        assert count(Schedule) == 1 and count(Job) == 0 and count(ScheduleRun) == 0


def test_create_edit_pause_resume_delete_through_the_pages(app: Flask, client: FlaskClient, no_relay: None) -> None:
    """The whole life of a schedule from the dashboard, each change recording who made it."""
    status, _ = post(client, "/schedules/", {"name": "Weekday POs", "job_kind": "pull_pending_pos", "cron": " 30  6 * * 1-5 "})
    assert status == 302
    with app.app_context():
        schedule = db.session.execute(db.select(Schedule)).scalar_one()
        assert (schedule.cron, schedule.created_by, schedule.updated_by, schedule.enabled) == ("30 6 * * 1-5", "olga", "olga", True)
        assert schedule.next_run_at == next_fire(parse_cron("30 6 * * 1-5"), utcnow())
        schedule_id = schedule.id
    page = client.get("/schedules/").get_data(as_text=True)
    assert "Weekday POs" in page and "at 06:30 on Mon–Fri (UTC)" in page and "never" in page
    assert 'hx-trigger="load delay:10s"' in page
    assert client.get(f"/schedules/{schedule_id}").status_code == 200
    status, _ = post(client, f"/schedules/{schedule_id}", {"name": "Monthly BOMs", "job_kind": "refresh_boms", "cron": "0 2 1 * *"})
    assert status == 302
    with app.app_context():
        schedule = db.session.get(Schedule, schedule_id)
        assert (schedule.name, schedule.job_kind, schedule.cron) == ("Monthly BOMs", "refresh_boms", "0 2 1 * *")
        assert schedule.next_run_at == next_fire(parse_cron("0 2 1 * *"), utcnow())
    assert post(client, f"/schedules/{schedule_id}/pause")[0] == 302
    assert "paused" in client.get("/schedules/table").get_data(as_text=True)
    assert post(client, f"/schedules/{schedule_id}/resume")[0] == 302
    with app.app_context():
        assert db.session.get(Schedule, schedule_id).next_run_at is not None
    post(client, f"/schedules/{schedule_id}/run")
    assert post(client, f"/schedules/{schedule_id}/delete")[0] == 302
    with app.app_context():
        assert count(Schedule) == 0 and count(ScheduleRun) == 0
        assert count(Job) == 1  # the job it started stays


def test_created_paused_has_no_next_run(app: Flask, client: FlaskClient) -> None:
    """'Start paused' creates the schedule without a next run."""
    post(client, "/schedules/", {"name": "later", "job_kind": "refresh_boms", "cron": "0 2 * * *", "paused": "1"})
    with app.app_context():
        schedule = db.session.execute(db.select(Schedule)).scalar_one()
        assert (schedule.enabled, schedule.next_run_at) == (False, None)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "x", "job_kind": "pull_pending_pos", "cron": "0 25 * * *"}, "hour: 25 is out of range 0–23"),
        ({"name": "x", "job_kind": "pull_pending_pos", "cron": ""}, "cron: enter 5 fields"),
        ({"name": "", "job_kind": "pull_pending_pos", "cron": "* * * * *"}, "name: give the schedule a name"),
        ({"name": "x", "job_kind": "make_coffee", "cron": "* * * * *"}, "job: choose Pull pending POs or Refresh BOMs"),
    ],
)
def test_bad_create_is_400_naming_the_field(app: Flask, client: FlaskClient, form: dict[str, str], message: str) -> None:
    """A refused form answers 400 with the field and problem, and writes nothing."""
    status, body = post(client, "/schedules/", form)
    assert status == 400
    assert message in body
    with app.app_context():
        assert count(Schedule) == 0


def test_bad_edit_and_duplicate_name_change_nothing(app: Flask, client: FlaskClient) -> None:
    """Editing with a bad cron or another schedule's name is refused; the row is unchanged."""
    with app.app_context():
        first, second = add_schedule(name="a"), add_schedule(name="b", cron="0 1 * * *")
    status, body = post(client, f"/schedules/{second}", {"name": "b", "job_kind": "refresh_boms", "cron": "0 0 * * 8"})
    assert status == 400 and "day of week: 8 is out of range 0–6" in body
    status, body = post(client, f"/schedules/{second}", {"name": "a", "job_kind": "refresh_boms", "cron": "0 1 * * *"})
    assert status == 400 and "name: a schedule named &#39;a&#39; already exists" in body
    status, _ = post(client, "/schedules/", {"name": "a", "job_kind": "refresh_boms", "cron": "0 1 * * *"})
    assert status == 400
    with app.app_context():
        schedule = db.session.get(Schedule, second)
        assert (schedule.name, schedule.job_kind, schedule.cron) == ("b", "pull_pending_pos", "0 1 * * *")
        assert count(Schedule) == 2 and first != second


def test_forms_without_csrf_token_are_refused(app: Flask, client: FlaskClient) -> None:
    """Every schedule form needs the CSRF token."""
    with app.app_context():
        schedule_id = add_schedule()
    assert post(client, "/schedules/", {"name": "x", "job_kind": "refresh_boms", "cron": "* * * * *"}, token=False)[0] == 400
    assert post(client, f"/schedules/{schedule_id}/delete", token=False)[0] == 400
    with app.app_context():
        assert count(Schedule) == 1


def test_table_fragment_and_history(app: Flask, client: FlaskClient, no_relay: None) -> None:
    """The table fragment is bare (no page around it); the edit page lists each fire."""
    with app.app_context():
        schedule_id = add_schedule()
        schedule_fires.fire_due(utcnow())
    fragment = client.get("/schedules/table", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert "<html" not in fragment and 'id="schedules-table"' in fragment and "started job #" in fragment
    page = client.get(f"/schedules/{schedule_id}").get_data(as_text=True)
    assert "History" in page and "schedule" in page and "started job #" in page


@pytest.mark.both_brokers
def test_beat_task_runs_on_a_real_worker(app: Flask, workers: WorkerSet) -> None:
    """The worker registers tasks.schedules.run_due_schedules; a due schedule starts a job that finishes."""
    with app.app_context():
        add_schedule(name="pending", cron="0 * * * *")
    lines = app.extensions["celery"].send_task("tasks.schedules.run_due_schedules").get(timeout=30)
    assert len(lines) == 1 and lines[0].startswith("pending: started job #")
    job_id = int(lines[0].rsplit("#", 1)[1])
    assert finished_job(app, job_id).status == "succeeded"
