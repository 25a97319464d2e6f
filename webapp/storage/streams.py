"""Reading an upload stream in whole chunks."""

from typing import BinaryIO


def read_full(stream: BinaryIO, size: int) -> bytes:
    """Up to ``size`` bytes, fewer only at the end: a stream may return less before its end (a socket, a pipe)."""
    block = stream.read(size)
    if not block or len(block) == size:
        return block
    parts, got = [block], len(block)
    while got < size and (more := stream.read(size - got)):
        parts.append(more)
        got += len(more)
    return b"".join(parts)
