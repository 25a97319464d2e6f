"""Celery settings (lowercase, Celery 5 names), read from the environment.

Tuned for at-least-once delivery on RabbitMQ or Redis: late acks, requeue when a worker dies
(capped by tasks.runlog), one message prefetched per process, JSON only, and every time limit and
retry delay kept below the broker's redelivery timeout (checked by webapp.config.check_celery_timing
at start-up).
"""

import os

from webapp.broker import broker_url_from_env, transport_settings, visibility_timeout_from_env

redis_url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
visibility_timeout = visibility_timeout_from_env()

# The broker: BROKER_URL (or CELERY_BROKER_URL, or Heroku's CLOUDAMQP_URL), else REDIS_URL (webapp.broker).
_broker = transport_settings(broker_url_from_env(), visibility_timeout)
broker_url = _broker["broker_url"]
broker_transport = _broker["broker_transport"]
broker_transport_options = _broker["broker_transport_options"]
broker_heartbeat = _broker.get("broker_heartbeat", 120)
result_backend = redis_url  # chords need the Redis result backend (no chord_unlock polling)
# CELERY_EXTRA_IMPORTS adds task modules (comma-separated), e.g. the fault-injection tasks of the tests.
imports = ("tasks.workflows", "tasks.heartbeat", "tasks.schedules") + tuple(
    m.strip() for m in os.environ.get("CELERY_EXTRA_IMPORTS", "").split(",") if m.strip()
)
timezone = "UTC"
enable_utc = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
result_accept_content = ["json"]

task_acks_late = True
task_reject_on_worker_lost = True
task_acks_on_failure = True
task_acks_on_timeout = True
worker_prefetch_multiplier = 1
worker_deduplicate_successful_tasks = True
worker_cancel_long_running_tasks_on_connection_loss = True
# Celery's STARTED state and extended results would be Redis writes per task that nobody reads:
# the task log in SQL (tasks.runlog) records when and where each run started and how it ended.
task_track_started = False
result_extended = False
# How long Redis keeps a stored result, and a chord's counters (which must outlive its batch): a
# chain's last step stores its record's outcome (about 330 bytes), a failure its traceback (1–2 kB).
result_expires = int(os.environ.get("RESULT_EXPIRES_SECONDS", str(7 * 24 * 3600)))

task_soft_time_limit = int(os.environ.get("TASK_SOFT_TIME_LIMIT", "240"))
task_time_limit = int(os.environ.get("TASK_TIME_LIMIT", "300"))

result_backend_transport_options = {"visibility_timeout": visibility_timeout, "retry_policy": {"timeout": 5.0}}
result_backend_always_retry = True
result_backend_max_retries = 10
broker_connection_retry_on_startup = True
broker_connection_retry = True
broker_connection_max_retries = None
task_publish_retry = True
task_publish_retry_policy = {"max_retries": 10, "interval_start": 0.5, "interval_step": 1, "interval_max": 5}

worker_soft_shutdown_timeout = 30
worker_enable_soft_shutdown_on_idle = True
worker_send_task_events = False
worker_hijack_root_logger = False

task_default_queue = "default"
task_routes = {
    "tasks.workflows.fetch_po": {"queue": "fetch"},
    "tasks.workflows.fetch_bom": {"queue": "fetch"},
    "tasks.workflows.make_po": {"queue": "db"},
    "tasks.workflows.make_product": {"queue": "db"},
    "tasks.workflows.make_component": {"queue": "db"},
    "tasks.workflows.write_sales_order": {"queue": "db"},
    "tasks.workflows.finalize_job": {"queue": "db"},
    # The default queue, not db: a top-up must not wait behind the window of make steps it refills.
    "tasks.workflows.next_window": {"queue": "default"},
}

beat_schedule = {
    "relay-outbox": {"task": "tasks.workflows.relay_outbox", "schedule": float(os.environ.get("OUTBOX_RELAY_SECONDS", "2"))},
    "sweep": {"task": "tasks.workflows.sweep", "schedule": float(os.environ.get("SWEEP_SECONDS", "10"))},
    "run-due-schedules": {"task": "tasks.schedules.run_due_schedules", "schedule": float(os.environ.get("SCHEDULE_TICK_SECONDS", "15"))},
    "purge-uploads": {"task": "tasks.workflows.purge_uploads", "schedule": float(os.environ.get("UPLOAD_PURGE_SECONDS", "3600"))},
}
