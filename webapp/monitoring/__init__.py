"""Monitoring: what workers, queues and task runs are doing, for the workers page, its API and /metrics."""
