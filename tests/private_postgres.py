"""The private PostgreSQL server of the fault tests (a plugin of conftest; the server itself is
devtools.localpostgres), and what the tests that cut its connections share."""

from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text

from devtools.localpostgres import PrivatePostgres, postgres_bin


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A private PostgreSQL whose connections the module's tests may cut; yields its URL."""
    if postgres_bin("initdb") is None:
        pytest.fail("initdb not found: install PostgreSQL's server package to run this test")
    server = PrivatePostgres()
    server.start()
    yield server.url
    server.destroy()


def cut(url: str, pid: int) -> None:
    """End a server process, as a database restart or a firewall would."""
    killer = create_engine(url)
    with killer.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    killer.dispose()
