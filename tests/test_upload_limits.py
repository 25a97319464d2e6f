"""Request body limits: reconciliation uploads up to RECON_MAX_UPLOAD_BYTES, every other form at MAX_CONTENT_LENGTH."""

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.forms import csrf_token
from tests.jobs import job_count as jobs
from tests.recon_corpus.builders import date_range_report
from webapp.extensions import db
from webapp.models import Job, ReconImport

# The read task stays in the outbox: no worker runs in this module, and no later one should read these jobs.
pytestmark = pytest.mark.usefixtures("no_relay")

ROWS = 60_000  # 20.9 MB: twice the 10 MiB that every other form accepts
ELEVEN_MIB = b"po_number\n" + b"PO-100001\n" * (11 * 1024 * 1024 // 10)


@pytest.fixture(scope="module")
def big_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 60,000-row Date Range report, over the global 10 MiB limit."""
    path = date_range_report(tmp_path_factory.mktemp("reports") / "date-range-60k.csv", ROWS, seed=3)
    assert path.stat().st_size > 20_000_000
    return path


def post_report(client: FlaskClient, path: Path, token: str | None) -> Any:
    """POST the report through the reconciliation form, with ``token`` as its CSRF field (None: no field)."""
    with open(path, "rb") as report:
        data: dict[str, Any] = {"file": (report, path.name)}
        if token is not None:
            data["csrf_token"] = token
        return client.post("/jobs/reconciliation", data=data, content_type="multipart/form-data")


def test_a_report_over_ten_mib_is_accepted_through_the_form(
    app: Flask, client: FlaskClient, big_report: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 20.9 MB report gets its job (not 413), its file part was spooled to disk by the parser."""
    from webapp.reconciliation import imports as reconcile

    launch, streams = reconcile.launch_reconciliation, []

    def spy(report: Any, orders: Any, operator: Any) -> Job:
        streams.append(report.stream)
        return launch(report, orders, operator)

    monkeypatch.setattr(reconcile, "launch_reconciliation", spy)
    response = post_report(client, big_report, csrf_token(client.get("/").data))
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert "/jobs/" in response.headers["Location"]
    assert streams[0]._rolled, "the upload was held in memory instead of a temporary file"  # SpooledTemporaryFile
    with app.app_context():
        upload = db.session.execute(db.select(ReconImport)).scalar_one()
        assert upload.size_bytes == big_report.stat().st_size


@pytest.mark.parametrize("token", [None, "not-the-token"])
def test_a_large_report_without_its_token_is_refused(app: Flask, client: FlaskClient, big_report: Path, token: str | None) -> None:
    """The CSRF check still runs on the large body: no token or a wrong one is the 400 error page, and no job."""
    response = post_report(client, big_report, token)
    assert response.status_code == 400
    assert "Form expired or forged" in response.get_data(as_text=True)
    assert jobs(app) == 0


@pytest.mark.parametrize("path", ["/jobs/purchase-orders", "/jobs/bills-of-materials", "/schedules/"])
def test_every_other_form_keeps_the_small_limit(app: Flask, client: FlaskClient, path: str) -> None:
    """11 MiB to the PO or BOM form (or any other endpoint) is 413 with the 10 MB limit named."""
    data = {"csrf_token": csrf_token(client.get("/").data), "file": (io.BytesIO(ELEVEN_MIB), "pos.csv")}
    response = client.post(path, data=data, content_type="multipart/form-data")
    assert response.status_code == 413
    assert "larger than the limit of 10 MB" in response.get_data(as_text=True)
    assert jobs(app) == 0


def test_an_anonymous_post_gets_only_the_small_limit(app: Flask, big_report: Path) -> None:
    """Without a logged-in operator the reconciliation form takes no more than MAX_CONTENT_LENGTH either."""
    anonymous = app.test_client()
    response = post_report(anonymous, big_report, csrf_token(anonymous.get("/login").data))
    assert response.status_code == 413
    assert "larger than the limit of 10 MB" in response.get_data(as_text=True)
    assert jobs(app) == 0


def test_a_report_over_the_reconciliation_limit_is_413(app: Flask, client: FlaskClient, big_report: Path) -> None:
    """Past RECON_MAX_UPLOAD_BYTES the friendly 413 page names that limit."""
    token = csrf_token(client.get("/").data)
    app.config["RECON_MAX_UPLOAD_BYTES"] = 5 * 1024 * 1024
    try:
        response = post_report(client, big_report, token)
    finally:
        app.config["RECON_MAX_UPLOAD_BYTES"] = 1024 * 1024 * 1024
    assert response.status_code == 413
    assert "larger than the limit of 5 MB" in response.get_data(as_text=True)
    assert jobs(app) == 0


def bare_app() -> Flask:
    """A bare app with the limits installed, a form-reading before_request hook (as the CSRF check),
    one marked view allowed by a header, and one unmarked view."""
    from flask import request

    from webapp.web.upload_limits import large_upload, register

    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=1000, BIG_UPLOAD_BYTES=4000)
    register(app)
    app.before_request(lambda: request.form and None)

    @app.post("/big")
    @large_upload("BIG_UPLOAD_BYTES", allowed=lambda: request.headers.get("X-Allowed") == "yes")
    def big() -> str:
        return str(len(request.files["file"].read()))

    @app.post("/small")
    def small() -> str:
        return str(len(request.files["file"].read()))

    return app


@pytest.mark.parametrize(
    ("path", "allowed", "size", "status"),
    [
        ("/big", "yes", 3000, 200),
        ("/big", "yes", 5000, 413),
        ("/big", "no", 3000, 413),
        ("/small", "yes", 3000, 413),
        ("/small", "yes", 500, 200),
    ],
)
def test_the_marker_sets_the_limit_before_any_hook(path: str, allowed: str, size: int, status: int) -> None:
    """@large_upload raises the limit for its view alone, for callers its check allows, before hooks parse the form."""
    client = bare_app().test_client()
    response = client.post(
        path, data={"file": (io.BytesIO(b"x" * size), "f.csv")}, headers={"X-Allowed": allowed}, content_type="multipart/form-data"
    )
    assert response.status_code == status


class CountedReads(io.BytesIO):
    """A request body that remembers the size of each read asked of it."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, size: int | None = -1) -> bytes:
        self.asked.append(-1 if size is None else size)
        return super().read(size)


@pytest.mark.parametrize(("form_memory", "read_size"), [(500_000, 250_000), (None, 1024 * 1024), (10_000, 5_000)])
def test_the_form_parser_reads_a_large_body_in_large_pieces(form_memory: int | None, read_size: int) -> None:
    """Reads of half the form-memory limit, at most 1 MiB: gunicorn copies what a read leaves
    buffered at each later read, so 64 KiB reads of its 1 MiB receives copied every byte ~16 times."""
    from webapp.web.upload_limits import LargeReadsFormDataParser

    boundary = "b0undary"
    content = bytes(range(256)) * 12_000  # 3 MB, every byte value
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\ntok\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.csv"\r\n'
            "Content-Type: text/csv\r\n\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    stream = CountedReads(body)
    parser = LargeReadsFormDataParser(max_form_memory_size=form_memory)
    _, form, files = parser.parse(stream, "multipart/form-data", len(body), {"boundary": boundary})
    assert form["csrf_token"] == "tok"
    assert files["file"].read() == content
    assert max(stream.asked) == read_size
