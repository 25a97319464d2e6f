"""Content hashes of uploads, so the same report imported twice is recognised whatever its file name."""

import hashlib
from typing import BinaryIO

CHUNK_SIZE = 1 << 20


def content_hash(binary: BinaryIO, chunk_size: int = CHUNK_SIZE) -> str:
    """The sha256 hex digest of every byte from the current position to the end, read in chunks."""
    digest = hashlib.sha256()
    while chunk := binary.read(chunk_size):
        digest.update(chunk)
    return digest.hexdigest()
