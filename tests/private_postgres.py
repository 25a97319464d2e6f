"""The private PostgreSQL server of the fault tests (it lives in webapp.localpostgres, beside localredis)."""

from webapp.localpostgres import PrivatePostgres, postgres_bin

__all__ = ["PrivatePostgres", "postgres_bin"]
