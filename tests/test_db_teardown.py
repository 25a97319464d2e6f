"""A request or task whose database connection dies while it runs still ends cleanly (webapp.db_teardown)."""

import pytest
from flask import Flask
from sqlalchemy import text

from tests.private_postgres import cut
from webapp.extensions import db
from webapp.web import access


def app_on(url: str) -> Flask:
    """The app on the private server, with a page that reads, then loses its connection mid-request."""
    from webapp.app import create_app

    app = create_app({"TESTING": True, "SECRET_KEY": "test-secret", "SQLALCHEMY_DATABASE_URI": url})

    @app.get("/reads-then-loses-its-connection")
    def reads_then_loses_its_connection() -> str:
        pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        cut(url, pid)  # the transaction the read began is still open: the teardown has to end it
        return "served"

    return app


def test_a_request_whose_connection_died_still_gets_its_response(postgres: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The view answered; ending its transaction on the dead connection must not turn that into an error."""
    monkeypatch.setattr(access, "OPEN", access.OPEN | {"reads_then_loses_its_connection"})  # a test route: no login needed
    app = app_on(postgres)
    response = app.test_client().get("/reads-then-loses-its-connection")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "served")
    with app.app_context():  # the pool's dead connection was dropped: the next request reads again
        assert db.session.execute(text("SELECT 1")).scalar_one() == 1


def test_a_task_context_whose_connection_died_ends_without_error(postgres: str) -> None:
    """Record steps run in an app context of their own: its end must not raise past the step's guards."""
    app = app_on(postgres)
    ended = False
    with app.app_context():
        cut(postgres, db.session.execute(text("SELECT pg_backend_pid()")).scalar_one())
    ended = True
    with app.app_context():
        assert (ended, db.session.execute(text("SELECT 1")).scalar_one()) == (True, 1)
