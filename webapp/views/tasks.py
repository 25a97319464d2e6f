"""The task view: one Celery task as the SQL log and Celery's result backend each see it, with its canvas."""

import re

from flask import Blueprint, abort, render_template
from flask_login import login_required

from webapp.jobs.kinds import KINDS
from webapp.jobs.task_view import backend_note, kept_text, runtime, task_view

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # Celery's ids are UUIDs; a run's task_id column holds 64 characters


@bp.get("/<task_id>")
@login_required
def detail(task_id: str) -> str:
    """Render one task: its runs, what AsyncResult reports, its previous and next steps, its group and chord."""
    if not TASK_ID.fullmatch(task_id):
        abort(404, description="That is not a Celery task id: task ids are UUIDs such as 3f2c9a4e-0b1d-4c8e-9a7f-5d6e2b1c0a93.")
    view = task_view(task_id)
    if view is None:
        abort(404, description=f"No task {task_id}: the task log has no run of it, and Celery's result backend holds nothing for it.")
    kind = KINDS.get(view.job.kind) if view.job else None
    return render_template(
        "tasks/detail.html", view=view, kind=kind, note=backend_note(view), kept=kept_text(view.kept_seconds), runtime=runtime
    )
