"""job state counts kept by triggers

The job page's summary must cost the same for 10 records and 100,000: instead of counting a
job's records on every poll, triggers on job_records keep per-(job, state, shard) counts in the
same transaction as every insert, state change and delete. PostgreSQL uses statement-level
triggers with transition tables (one grouped upsert per statement, rows locked in a fixed order
so concurrent steps cannot deadlock on them); SQLite uses row-level triggers.

Revision ID: e5f6a7b8c903
Revises: d4e5f6a7b802
Create Date: 2026-11-22 03:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = "e5f6a7b8c903"
down_revision = "d4e5f6a7b802"
branch_labels = None
depends_on = None

SHARDS = 16

POSTGRES_FUNCTION = f"""
CREATE FUNCTION job_state_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO job_state_counts (job_id, state, shard, n)
      SELECT job_id, state, id % {SHARDS}, count(*) FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
      ON CONFLICT (job_id, state, shard) DO UPDATE SET n = job_state_counts.n + EXCLUDED.n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO job_state_counts (job_id, state, shard, n)
      SELECT job_id, state, id % {SHARDS}, -count(*) FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
      ON CONFLICT (job_id, state, shard) DO UPDATE SET n = job_state_counts.n + EXCLUDED.n;
  ELSE
    INSERT INTO job_state_counts (job_id, state, shard, n)
      SELECT job_id, state, shard, sum(delta) FROM (
          SELECT job_id, state, id % {SHARDS} AS shard, -1 AS delta FROM old_rows
          UNION ALL
          SELECT job_id, state, id % {SHARDS} AS shard, 1 AS delta FROM new_rows
        ) AS moves
      GROUP BY 1, 2, 3 HAVING sum(delta) <> 0 ORDER BY 1, 2, 3
      ON CONFLICT (job_id, state, shard) DO UPDATE SET n = job_state_counts.n + EXCLUDED.n;
  END IF;
  RETURN NULL;
END $$
"""

POSTGRES_TRIGGERS = [
    "CREATE TRIGGER job_records_counts_insert AFTER INSERT ON job_records "
    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_state_counts_apply()",
    "CREATE TRIGGER job_records_counts_update AFTER UPDATE ON job_records "
    "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION job_state_counts_apply()",
    "CREATE TRIGGER job_records_counts_delete AFTER DELETE ON job_records "
    "REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION job_state_counts_apply()",
]


def sqlite_bump(row: str, delta: int) -> str:
    """The upsert a SQLite trigger runs for one side (OLD or NEW) of a row change."""
    return (f"INSERT INTO job_state_counts (job_id, state, shard, n) VALUES ({row}.job_id, {row}.state, {row}.id % {SHARDS}, {delta}) "
            f"ON CONFLICT (job_id, state, shard) DO UPDATE SET n = n + {delta};")


SQLITE_TRIGGERS = [
    f"CREATE TRIGGER job_records_counts_insert AFTER INSERT ON job_records BEGIN {sqlite_bump('NEW', 1)} END",
    "CREATE TRIGGER job_records_counts_update AFTER UPDATE OF state ON job_records WHEN OLD.state IS NOT NEW.state "
    f"BEGIN {sqlite_bump('OLD', -1)} {sqlite_bump('NEW', 1)} END",
    f"CREATE TRIGGER job_records_counts_delete AFTER DELETE ON job_records BEGIN {sqlite_bump('OLD', -1)} END",
]


def upgrade():
    op.create_table(
        "job_state_counts",
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_job_state_counts_job_id_jobs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "state", "shard", name=op.f("pk_job_state_counts")),
    )
    op.execute(
        f"INSERT INTO job_state_counts (job_id, state, shard, n) "
        f"SELECT job_id, state, id % {SHARDS}, count(*) FROM job_records GROUP BY job_id, state, id % {SHARDS}"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        for statement in POSTGRES_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade():
    for name in ("job_records_counts_insert", "job_records_counts_update", "job_records_counts_delete"):
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON job_records")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS job_state_counts_apply()")
    op.drop_table("job_state_counts")
