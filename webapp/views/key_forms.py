"""The keys a launch form sends: an uploaded CSV (its name and type checked first) or the text box."""

from flask import current_app, request

from webapp.jobs.keyfile import ParsedKeys, parse_key_csv, parse_key_text
from webapp.jobs.kinds import JobKind
from webapp.storage.names import name_problem

ALLOWED_UPLOADS = (".csv", ".txt")


def upload_errors(upload: object) -> list[str]:
    """Errors about the upload itself (wrong type), before reading it."""
    filename = getattr(upload, "filename", "") or ""
    if problem := name_problem(filename):
        return [problem]
    if not filename.lower().endswith(ALLOWED_UPLOADS):
        return [f"{filename!r} is not a .csv file"]
    return []


def read_keys(kind: JobKind) -> tuple[ParsedKeys, str | None, str | None]:
    """The keys of a launch form: an uploaded CSV, else the text box; with the input's name and text."""
    upload = request.files.get("file")
    limit = current_app.config["MAX_JOB_RECORDS"]
    if upload is not None and upload.filename:
        errors = upload_errors(upload)
        if errors:
            return ParsedKeys(errors=errors), None, None
        raw = upload.read()
        parsed = parse_key_csv(raw, kind, limit)
        return parsed, upload.filename, raw.decode("utf-8-sig") if parsed.ok else None
    text = request.form.get("keys", "")
    if text.strip():
        return parse_key_text(text, kind, limit), "typed in the form", text
    return ParsedKeys(errors=[f"choose a CSV file of {kind.key_label}s to upload, or type them"]), None, None
