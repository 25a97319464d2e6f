"""End each app context's database session without failing when its connection is gone.

Flask-SQLAlchemy closes the session when the app context ends, rolling back a transaction still
open (a page that only read, say). If the database was restarted while the request or task ran,
that rollback fails on the dead connection, after the view has returned or the step has settled,
where no error handler or retry applies: the operator would get a bare 500 instead of the page
the view made, and a worker's step would raise past its guards. Nothing is left to roll back on a
dead connection (the server ended the transaction with it), so the session is dropped with its
connection instead, and the pool opens a new one next time.
"""

from flask import Flask
from sqlalchemy.exc import DBAPIError

from webapp.extensions import db


def end_sessions_safely(app: Flask) -> None:
    """Close each app context's session first (before Flask-SQLAlchemy's own teardown, which then
    finds nothing to do), discarding it when its connection died."""

    @app.teardown_appcontext
    def close_session(_: BaseException | None) -> None:
        try:
            db.session.remove()
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            app.logger.warning("the database connection was lost before the session ended: %s", error.orig)
            db.session().invalidate()  # the scoped session itself has no invalidate()
            db.session.remove()
