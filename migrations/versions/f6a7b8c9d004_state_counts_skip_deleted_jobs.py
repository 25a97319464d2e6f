"""state counts skip records deleted with their job

Deleting a job cascades to its records; the counts trigger then tried to subtract them from a job
that no longer exists, and the foreign key of job_state_counts refused it, so the job could not be
deleted (e.g. by a retention purge). The delete side now skips records whose job is gone: its
counts go with the job, by their own cascade.

Revision ID: f6a7b8c9d004
Revises: e5f6a7b8c903
Create Date: 2026-11-22 08:20:00
"""

from alembic import op

revision = "f6a7b8c9d004"
down_revision = "e5f6a7b8c903"
branch_labels = None
depends_on = None

SHARDS = 16
LIVE_JOB = "EXISTS (SELECT 1 FROM jobs WHERE jobs.id = {}.job_id)"


def postgres_function(delete_filter: str) -> str:
    """The counts trigger function, with ``delete_filter`` on the rows a DELETE subtracts."""
    return f"""
CREATE OR REPLACE FUNCTION job_state_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO job_state_counts (job_id, state, shard, n)
      SELECT job_id, state, id % {SHARDS}, count(*) FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
      ON CONFLICT (job_id, state, shard) DO UPDATE SET n = job_state_counts.n + EXCLUDED.n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO job_state_counts (job_id, state, shard, n)
      SELECT job_id, state, id % {SHARDS}, -count(*) FROM old_rows WHERE {delete_filter}
      GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
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


def sqlite_delete_trigger(delete_filter: str) -> str:
    """The SQLite trigger that subtracts a deleted record, for rows matching ``delete_filter``."""
    return ("CREATE TRIGGER job_records_counts_delete AFTER DELETE ON job_records BEGIN "
            f"INSERT INTO job_state_counts (job_id, state, shard, n) "
            f"SELECT OLD.job_id, OLD.state, OLD.id % {SHARDS}, -1 WHERE {delete_filter} "
            "ON CONFLICT (job_id, state, shard) DO UPDATE SET n = n - 1; END")


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(postgres_function(LIVE_JOB.format("old_rows")))
    else:
        op.execute("DROP TRIGGER IF EXISTS job_records_counts_delete")
        op.execute(sqlite_delete_trigger(LIVE_JOB.format("OLD")))


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(postgres_function("true"))
    else:
        op.execute("DROP TRIGGER IF EXISTS job_records_counts_delete")
        op.execute(sqlite_delete_trigger("true"))
