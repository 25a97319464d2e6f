"""Pooled PostgreSQL connections are pinged before use only after sitting idle (webapp.db_ping)."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from tests.private_postgres import cut
from webapp.db_ping import ping_when_idle


def pool_of_one(url: str, ping_after: float, pings: list[int]) -> Engine:
    """An engine with one pooled connection, pinged after ``ping_after`` idle seconds; counts pings."""
    engine = create_engine(url, pool_size=1, max_overflow=0)
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        pings.append(1)
        return ping(dbapi_connection)

    engine.dialect.do_ping = counted  # type: ignore[method-assign]
    ping_when_idle(engine, ping_after)
    return engine


def backend(engine: Engine) -> int:
    """The server process behind the pooled connection."""
    with engine.connect() as connection:
        return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_used_a_moment_ago_costs_no_ping(postgres: str) -> None:
    """Three checkouts in a row: the first is a new connection, the next two were just in use."""
    pings: list[int] = []
    engine = pool_of_one(postgres, ping_after=3600, pings=pings)
    assert len({backend(engine) for _ in range(3)}) == 1
    assert pings == []


def test_an_idle_connection_found_dead_is_replaced_before_use(postgres: str) -> None:
    """Idle past the limit, the connection is pinged; found dead, the caller gets a new one, no error."""
    pings: list[int] = []
    engine = pool_of_one(postgres, ping_after=0, pings=pings)
    first = backend(engine)
    cut(postgres, first)
    assert backend(engine) != first
    assert pings == [1]


def test_a_dead_connection_not_pinged_fails_once_then_the_pool_is_renewed(postgres: str) -> None:
    """Cut right after use, the connection is trusted: its statement fails (the callers retry), and
    the next checkout gets a new connection."""
    pings: list[int] = []
    engine = pool_of_one(postgres, ping_after=3600, pings=pings)
    first = backend(engine)
    cut(postgres, first)
    with pytest.raises(OperationalError):
        backend(engine)
    assert backend(engine) != first
    assert pings == []
