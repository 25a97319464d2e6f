"""Upload streams as a socket gives them: in trickles, made on demand, or cut off mid-way."""

import io


class Trickle(io.RawIOBase):
    """A stream that never returns more than ``step`` bytes per read, as a socket may."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step, self.pos = data, step, 0

    def readable(self) -> bool:
        """Readable, not seekable."""
        return True

    def read(self, size: int = -1) -> bytes:
        """At most ``step`` bytes."""
        size = self.step if size < 0 else min(size, self.step)
        block = self.data[self.pos:self.pos + size]
        self.pos += len(block)
        return block


class Generated(io.RawIOBase):
    """``size`` bytes made on demand: a large upload that never exists in memory as a whole."""

    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        """Readable, not seekable."""
        return True

    def read(self, size: int = -1) -> bytes:
        """The next ``size`` bytes (all of them if -1)."""
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return b"x" * size


class Broken(io.RawIOBase):
    """A stream that fails after ``good`` bytes, as an upload cut off mid-way."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        """Readable, not seekable."""
        return True

    def read(self, size: int = -1) -> bytes:
        """Bytes until ``good`` are out, then an error."""
        if self.left <= 0:
            raise OSError("connection reset while uploading")
        size = self.left if size < 0 else min(size, self.left)
        self.left -= size
        return b"y" * size
