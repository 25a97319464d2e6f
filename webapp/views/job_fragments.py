"""The job page's fragments (summary, rows, actions), rendered by the page, its poll and the actions
that change them, so an action's answer carries the same markup as the page (no blueprint: the job
page and the job actions share it)."""

from urllib.parse import parse_qs, urlsplit

from flask import current_app, g, render_template, request

from webapp.extensions import db
from webapp.jobs.dispatch_status import queued_dispatch
from webapp.jobs.flow import job_window
from webapp.jobs.kinds import KINDS, RECONCILIATION
from webapp.jobs.progress import record_rows, summarize
from webapp.jobs.rounds import job_history
from webapp.models import RECORD_STATES, Job, ReconImport
from webapp.reconciliation import imports as reconcile
from webapp.reconciliation.reading import reading_speed
from webapp.web import lookups
from webapp.web.paging import MOST_PAGES, page_number


def state_arg() -> str | None:
    """The ?state= filter if it names a record state."""
    state = request.args.get("state") or None
    return state if state in RECORD_STATES else None


def viewed_rows() -> tuple[int, str | None]:
    """The page and state filter of the job page the operator looks at: the request's own for a
    page or its poll, the page's address (htmx's HX-Current-URL) for an action posted from it."""
    current = request.headers.get("HX-Current-URL")
    if not current or request.method == "GET":
        return page_number(), state_arg()
    query = parse_qs(urlsplit(current).query)
    page = (query.get("page") or ["1"])[0]
    state = (query.get("state") or [None])[0]
    number = int(page) if page.isascii() and page.isdigit() and len(page) < 8 else 1
    return min(max(1, number), MOST_PAGES), state if state in RECORD_STATES else None


def job_or_404(job_id: int) -> Job:
    """The job, read once per request however many of the request's renders need it (the session
    keeps no loaded object that nothing references, so a second get() would query again)."""
    read: dict[int, Job] = g.setdefault("jobs_read", {})
    if job_id not in read:
        read[job_id] = lookups.job_or_404(job_id)
    return read[job_id]


def recon_context(job: Job) -> dict[str, object]:
    """The upload of a reconciliation job, its reading speed, and an earlier import of the same file."""
    if job.kind != RECONCILIATION.name:
        return {"upload": None}
    upload = db.session.execute(db.select(ReconImport).filter_by(job_id=job.id)).scalar_one_or_none()
    if upload is None:
        return {"upload": None}
    return {"upload": upload, "reading": reading_speed(upload), "earlier": reconcile.earlier_import(upload)}


def render_summary(job: Job, out_of_band: bool = False) -> str:
    """The summary fragment, read fresh. It holds nothing of the viewer's own (no form, no CSRF
    token), so the poll may share one render among viewers (webapp.web.fragment_cache)."""
    return render_template(
        "jobs/_summary.html",
        job=job,
        summary=summarize(job),
        out_of_band=out_of_band,
        dispatch=queued_dispatch(job),
        window=job_window(job),
        history=job_history(job),
        **recon_context(job),
    )


def render_actions(job: Job, out_of_band: bool = False) -> str:
    """The job's buttons with the viewer's own CSRF token: never shared, never cached."""
    return render_template("jobs/_actions.html", job=job, out_of_band=out_of_band, **recon_context(job))


def rows_context(job: Job) -> dict[str, object]:
    """Template variables of the rows fragment and of the page that includes it."""
    per_page = current_app.config["RECORDS_PER_PAGE"]
    page, state = viewed_rows()
    rows, matching = record_rows(job, page, per_page, state)
    pages = max(1, -(-matching // per_page))
    return {"rows": rows, "page": page, "pages": pages, "state": state, "matching": matching, "states": RECORD_STATES}


def render_rows(job: Job, out_of_band: bool = False) -> str:
    """The rows fragment of the page the operator looks at."""
    return render_template("jobs/_rows.html", job=job, kind=KINDS[job.kind], out_of_band=out_of_band, **rows_context(job))


def shared_rows(job_id: int) -> tuple[bool, str]:
    """(whether it still polls, the rows fragment) for ?page= and ?state=; the same for every
    operator, so viewers share one render a second (webapp.web.fragment_cache)."""

    def render() -> tuple[bool, str]:
        job = job_or_404(job_id)
        return job.is_active, render_rows(job)

    return current_app.extensions["fragment_cache"].get_or_render(("rows", job_id, page_number(), state_arg()), render)


def forget_shared(job_id: int) -> None:
    """Drop this process's shared renders of the job, so the poll after an action shows its effect
    (not a render up to a second older than the action's own answer)."""
    current_app.extensions["fragment_cache"].forget_prefix(("summary", job_id))
    current_app.extensions["fragment_cache"].forget_prefix(("rows", job_id))
