"""The keys a launch form sends: an uploaded CSV (its name and type checked first), the file a
warning carried back, or the text box; and what the form shows again when it is not started."""

from dataclasses import dataclass, field

from flask import current_app, request

from webapp.jobs.keyfile import ParsedKeys, parse_key_csv, parse_key_text
from webapp.jobs.kinds import JobKind
from webapp.storage.names import name_problem

ALLOWED_UPLOADS = (".csv", ".txt")
TYPED = "typed in the form"


@dataclass
class KeyForm:
    """One launch form as posted: its keys (or errors), the input's name and text as the job keeps
    them, and what the form shows again when the job is not started (the typed text, the file)."""

    parsed: ParsedKeys
    input_name: str | None = None
    input_text: str | None = None
    kept: dict[str, str] = field(default_factory=dict)

    @property
    def remove_repeats(self) -> bool:
        """True when the operator chose "remove duplicates and start" and repeats are all that is wrong."""
        return request.form.get("duplicates") == "remove" and self.parsed.only_repeats


def file_name_errors(filename: str) -> list[str]:
    """Errors about a file's name (too long, odd characters, not a .csv)."""
    if problem := name_problem(filename):
        return [problem]
    if not filename.lower().endswith(ALLOWED_UPLOADS):
        return [f"{filename!r} is not a .csv file"]
    return []


def read_file(kind: JobKind, name: str, raw: bytes) -> KeyForm:
    """The keys of a CSV file; on repeated keys the file goes back with the form (hidden), so
    "remove duplicates and start" needs no second upload."""
    errors = file_name_errors(name)
    if errors:
        return KeyForm(ParsedKeys(errors=errors, other_errors=len(errors)))
    parsed = parse_key_csv(raw, kind, current_app.config["MAX_JOB_RECORDS"])
    text = raw.decode("utf-8-sig") if parsed.ok or parsed.only_repeats else None
    kept = {"file_name": name, "file_text": text} if parsed.only_repeats and text is not None else {}
    return KeyForm(parsed, name, text, kept)


def read_keys(kind: JobKind) -> KeyForm:
    """The keys of a launch form: an uploaded CSV, else a file carried back by a warning, else the text box."""
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        return read_file(kind, upload.filename, upload.read())
    if request.form.get("file_text") is not None:
        return read_file(kind, request.form.get("file_name", ""), request.form["file_text"].encode())
    text = request.form.get("keys", "")
    kept = {"typed": text} if text else {}
    if text.strip():
        return KeyForm(parse_key_text(text, kind, current_app.config["MAX_JOB_RECORDS"]), TYPED, text, kept)
    return KeyForm(ParsedKeys(errors=[f"choose a CSV file of {kind.key_label}s to upload, or type them"], other_errors=1), kept=kept)
