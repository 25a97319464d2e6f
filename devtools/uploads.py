"""Uploads over real HTTP: a multipart body streamed from disk through the dashboard's form, and Confirm."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import requests

from devtools.web import csrf_token

CHUNK = 1 << 20


class MultipartFile:
    """A multipart/form-data body of text fields and one file, read from disk as it is sent.

    It has a length, so requests sends a Content-Length (no chunked encoding) and reads the
    body with ``read(n)``: the sender never holds more than one block of the file.
    """

    def __init__(self, fields: dict[str, str], name: str, path: Path) -> None:
        self.boundary = uuid.uuid4().hex
        head = "".join(f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{key}\"\r\n\r\n{value}\r\n"
                       for key, value in fields.items())
        head += (f"--{self.boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{path.name}\"\r\n"
                 "Content-Type: text/csv\r\n\r\n")
        self.parts = [head.encode(), path, f"\r\n--{self.boundary}--\r\n".encode()]
        self.size = len(self.parts[0]) + path.stat().st_size + len(self.parts[2])
        self.chunks = self.stream()

    @property
    def content_type(self) -> str:
        """The Content-Type header of the body."""
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self.size

    def stream(self) -> Iterator[bytes]:
        """The body's bytes, the file's a megabyte at a time."""
        yield self.parts[0]
        with open(self.parts[1], "rb") as handle:
            while block := handle.read(CHUNK):
                yield block
        yield self.parts[2]

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes (at least one block unless the body is done)."""
        return next(self.chunks, b"")


def post_upload(session: requests.Session, base: str, path: Path, timeout: float = 1800) -> requests.Response:
    """POST ``path`` through the dashboard's reconciliation form (CSRF token included), streamed from disk."""
    token = csrf_token(session.get(f"{base}/", timeout=30).text)
    body = MultipartFile({"csrf_token": token}, "file", path)
    return session.post(f"{base}/jobs/reconciliation", data=body, headers={"Content-Type": body.content_type},
                        allow_redirects=False, timeout=timeout)


def confirm(session: requests.Session, base: str, job_id: int) -> requests.Response:
    """Press Confirm on the job page (its form's CSRF token included)."""
    token = csrf_token(session.get(f"{base}/jobs/{job_id}", timeout=30).text)
    return session.post(f"{base}/jobs/{job_id}/confirm", data={"csrf_token": token}, allow_redirects=False, timeout=60)
