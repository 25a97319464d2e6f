"""Beat's entry point that fires the schedules due (webapp.jobs.schedule_fires does the work)."""

from celery import shared_task

from webapp.jobs import schedule_fires


@shared_task
def run_due_schedules() -> list[str]:
    """Fire every schedule that is due; return one line per schedule fired, skipped or failed."""
    return schedule_fires.fire_due()
