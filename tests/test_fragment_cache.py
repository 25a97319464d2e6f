"""The shared one-second cache of the live fragments and of the logged-in operator."""

import threading

from flask import Flask
from flask.testing import FlaskClient

from devtools.waiting import wait_for
from tests.jobs import make_job
from webapp.extensions import db
from webapp.models import Job, JobRecord, Operator
from webapp.web.fragment_cache import FragmentCache


class FakeClock:
    """A clock the test moves by hand, so expiry needs no waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_render_serves_every_viewer_until_it_expires() -> None:
    clock = FakeClock()
    cache, renders = FragmentCache(ttl=1.0, clock=clock), []

    def render() -> str:
        renders.append(1)
        return f"<tr>{len(renders)}</tr>"

    assert [cache.get_or_render(("rows", 1), render) for _ in range(5)] == ["<tr>1</tr>"] * 5
    clock.now += 0.99
    assert cache.get_or_render(("rows", 1), render) == "<tr>1</tr>"
    clock.now += 0.01
    assert cache.get_or_render(("rows", 1), render) == "<tr>2</tr>"
    assert cache.get_or_render(("rows", 2), render) == "<tr>3</tr>"


def test_viewers_asking_at_once_wait_for_a_single_render() -> None:
    cache, renders, release = FragmentCache(ttl=5), [], threading.Event()

    def slow_render() -> str:
        renders.append(1)
        release.wait(timeout=10)  # held until the test has started every viewer
        return "html"

    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(cache.get_or_render(("rows", 7), slow_render))) for _ in range(8)]
    for thread in threads:
        thread.start()
    wait_for(lambda: renders, timeout=10, interval=0.01, message="the first render to start")
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert results == ["html"] * 8 and len(renders) == 1


def test_a_full_cache_keeps_its_newest_entries() -> None:
    cache = FragmentCache(ttl=60, max_entries=3)
    for n in range(5):
        cache.get_or_render(("rows", n), lambda n=n: str(n))
    assert sorted(cache.entries) == [("rows", 2), ("rows", 3), ("rows", 4)]


def test_forgetting_a_prefix_drops_every_page_of_one_job_only() -> None:
    """An action drops all of its job's shared renders (every page and filter), no other job's."""
    cache = FragmentCache(ttl=60)
    for key in [("rows", 1, 1, None), ("rows", 1, 2, "failed"), ("rows", 11, 1, None), ("summary", 1)]:
        cache.get_or_render(key, lambda key=key: str(key))
    cache.forget_prefix(("rows", 1))
    assert sorted(cache.entries, key=str) == [("rows", 11, 1, None), ("summary", 1)]


def test_rows_fragment_is_shared_then_refreshed(app: Flask, client: FlaskClient) -> None:
    """Within the TTL the rows fragment is the cached render; after it, the database's state."""
    job_id = make_job(app, "running", records=2)
    url, headers = f"/jobs/{job_id}/rows", {"HX-Request": "true"}
    first = client.get(url, headers=headers).get_data(as_text=True)
    assert first.count('data-state="pending"') == 2
    with app.app_context():
        db.session.execute(db.update(JobRecord).where(JobRecord.job_id == job_id).values(state="succeeded"))
        db.session.commit()
    cache = app.extensions["fragment_cache"]
    assert client.get(url, headers=headers).get_data(as_text=True) == first
    clock, cache.clock = cache.clock, lambda: clock() + cache.ttl  # the same requests, a TTL later
    try:
        assert client.get(url, headers=headers).get_data(as_text=True).count('data-state="succeeded"') == 2
    finally:
        cache.clock = clock


def test_live_summary_is_shared_while_running_and_exact_once_ended(app: Flask, client: FlaskClient) -> None:
    """A running job's polled summary may be a second old; once the rows stop polling (the job has
    ended), the summary that comes with them is read fresh, never the shared one."""
    job_id = make_job(app, "running", records=2)
    url, headers = f"/jobs/{job_id}/live", {"HX-Request": "true"}
    assert 'data-state="pending">2<' in client.get(url, headers=headers).get_data(as_text=True)
    with app.app_context():
        db.session.execute(db.update(JobRecord).where(JobRecord.job_id == job_id).values(state="succeeded"))
        db.session.execute(db.update(Job).where(Job.id == job_id).values(status="succeeded"))
        db.session.commit()
    shared = client.get(url, headers=headers).get_data(as_text=True)
    assert 'data-state="pending">2<' in shared and 'hx-trigger="load delay:1s, htmx:afterSettle delay:1s"' in shared  # still polling
    cache = app.extensions["fragment_cache"]
    clock, cache.clock = cache.clock, lambda: clock() + cache.ttl  # the same request, a TTL later
    try:
        ended = client.get(url, headers=headers).get_data(as_text=True)
    finally:
        cache.clock = clock
    assert 'data-state="succeeded">2<' in ended and 'data-state="pending">0<' in ended
    assert "hx-trigger" not in ended and 'data-status="succeeded"' in ended


def test_a_deactivated_operator_is_refused_within_the_ttl(app: Flask, client: FlaskClient, operator: tuple[str, str]) -> None:
    """The operator row is shared like the fragments: deactivation takes effect a TTL later at most."""
    job_id = make_job(app, "running", records=1)
    assert client.get(f"/jobs/{job_id}/live").status_code == 200
    with app.app_context():
        db.session.execute(db.update(Operator).where(Operator.username == operator[0]).values(active=False))
        db.session.commit()
    cache = app.extensions["fragment_cache"]
    clock, cache.clock = cache.clock, lambda: clock() + cache.ttl
    try:
        response = client.get(f"/jobs/{job_id}/live")
    finally:
        cache.clock = clock
    assert response.status_code == 302 and "/login" in response.headers["Location"]
