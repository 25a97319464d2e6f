"""The JSON API under /api: jobs, reconciliation, schedules, operations, sandbox settings."""
