"""The database backend: a file's bytes as numbered chunk rows (bytea on PostgreSQL, blob on SQLite).

Each chunk is one INSERT of about a mebibyte and is read back a few at a time by sequence
number, so memory stays flat whatever the file's size and whichever driver is used (no
server-side cursor needed).
"""

from typing import BinaryIO

from webapp.extensions import db
from webapp.models import StoredFileChunk
from webapp.storage.streams import read_full

CHUNK_BYTES = 1 << 20
CHUNKS_PER_READ = 4

chunks = StoredFileChunk.__table__


def put(stream: BinaryIO, file_id: int) -> int:
    """Insert ``stream`` as the chunks of file ``file_id`` in the session's transaction; return its size."""
    size = seq = 0
    insert = db.insert(chunks)
    while block := read_full(stream, CHUNK_BYTES):
        db.session.execute(insert, {"file_id": file_id, "seq": seq, "data": block})
        size, seq = size + len(block), seq + 1
    return size


def get(file_id: int, out: BinaryIO) -> None:
    """Write the chunks of file ``file_id`` to ``out`` in order, a few at a time."""
    seq = 0
    while True:
        rows = db.session.execute(
            db.select(chunks.c.seq, chunks.c.data)
            .where(chunks.c.file_id == file_id, chunks.c.seq >= seq, chunks.c.seq < seq + CHUNKS_PER_READ)
            .order_by(chunks.c.seq)
        ).all()
        for number, data in rows:
            if number != seq:
                return  # a gap: the caller sees the size fall short
            out.write(data)
            seq += 1
        if len(rows) < CHUNKS_PER_READ:
            return


def delete(file_id: int) -> None:
    """Delete the chunks of file ``file_id`` (in the session's transaction)."""
    db.session.execute(db.delete(chunks).where(chunks.c.file_id == file_id))
