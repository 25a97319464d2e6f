"""Decoding uploads chunk by chunk: reports arrive as UTF-8, Windows-1252 or UTF-16, with any line ending."""

import codecs
import hashlib
from collections.abc import Callable, Iterator
from itertools import chain
from typing import BinaryIO, NoReturn

from webapp.reconciliation.reader.model import ReportError

CHUNK_SIZE = 1 << 16
MAX_LINE = 1 << 20
# First bytes of files uploaded in place of a report: (magic, report kind shown in the preview, what it is).
SIGNATURES = (
    (b"PK\x03\x04", "zip_archive", "a ZIP archive, or an Excel workbook"),
    (b"\xd0\xcf\x11\xe0", "excel_workbook", "an old-style Excel workbook (XLS)"),
    (b"%PDF", "pdf_document", "a PDF document"),
    (b"\x1f\x8b", "gzip_file", "a gzip-compressed file"),
    (b"Rar!", "rar_archive", "a RAR archive"),
    (b"7z\xbc\xaf", "7z_archive", "a 7-Zip archive"),
    (b"\x89PNG", "image", "a PNG image"),
    (b"\xff\xd8\xff", "image", "a JPEG image"),
)
# Names of a ZIP archive's entries, which its first chunk usually holds: Office files are ZIP archives too.
ZIP_CONTENTS = ((b"xl/", "excel_workbook", "an Excel workbook (XLSX)"),
                (b"word/", "word_document", "a Word document (DOCX)"))
DOWNLOAD_AGAIN = ("download the report from Seller Central again as a text file (CSV for the Date Range report, "
                  "TXT for the settlement flat file V2), and upload it without opening it in a spreadsheet")
ADVICE = {
    "zip_archive": "if it is an archive, unpack it and upload the report inside; otherwise " + DOWNLOAD_AGAIN,
    "gzip_file": "unpack it (Amazon's API sends reports compressed) and upload the text inside",
}
CONTROL = bytes(sorted(set(range(32)) - {9, 10, 12, 13, 26})) + b"\x7f"  # never in report text (26: an old end-of-file mark)
BINARY_SHARE = 0.02  # of control bytes in the first 4 KB; report text has none, random bytes about 11 %


class LineSource:
    """The decoded lines of a binary file object, read in fixed-size chunks (constant memory).

    ``bytes_read`` counts raw bytes consumed (for progress); ``sha256`` is the digest of every
    byte once the file has been read to the end.
    """

    def __init__(self, binary: BinaryIO, chunk_size: int = CHUNK_SIZE) -> None:
        self.binary = binary
        self.chunk_size = chunk_size
        self.bytes_read = 0
        self.encoding = ""
        self.lines_done = 0
        self.sha256: str | None = None
        self._hash = hashlib.sha256()
        self._pending = b""
        self._multibyte_seen = False
        self.bare_cr: bool | None = None  # old Mac files end lines with CR alone; decided on the first chunk
        self.mark: int | None = None
        self.mark_line: int | None = None
        self._decode: Callable[[bytes, bool], str] = self._decode_utf8

    def __iter__(self) -> Iterator[str]:
        """Every line with its line ending ("\\n"; a CR before it is kept, as csv expects)."""
        return chain.from_iterable(self._batches())

    def watch(self, offset: int) -> None:
        """Have ``mark_line`` set to the number of line feeds before byte ``offset`` when the chunk holding it is read.

        ``offset`` must lie past the bytes read so far; the count costs nothing, as the lines
        of every earlier chunk are counted already.
        """
        self.mark, self.mark_line = offset, None

    def _read(self) -> bytes:
        """The next chunk of raw bytes, counted and hashed."""
        chunk = self.binary.read(self.chunk_size)
        if self.mark is not None and self.mark_line is None and self.bytes_read + len(chunk) >= self.mark:
            # every byte before this chunk is decoded into lines_done lines (no line feed waits in _pending)
            self.mark_line = self.lines_done + chunk[: self.mark - self.bytes_read].count(b"\n")
        self.bytes_read += len(chunk)
        self._hash.update(chunk)
        return chunk

    def _batches(self) -> Iterator[list[str]]:
        """Lists of complete lines, one list per chunk read."""
        data = self._start()
        carry = ""
        while data:
            text = carry + self._decode(data, False)
            if self.bare_cr is None:
                self.bare_cr = ends_lines_with_cr(text)
            if self.bare_cr:
                text = text.replace("\r", "\n")
            self._check_nul(text)
            parts = text.split("\n")
            carry = parts.pop()
            if len(carry) > MAX_LINE:
                raise ReportError(self.lines_done + len(parts) + 1, "a line is longer than 1 MB: not a text report")
            self.lines_done += len(parts)
            yield [part + "\n" for part in parts]
            data = self._read()
        carry += self._decode(b"", True).replace("\r", "\n") if self.bare_cr else self._decode(b"", True)
        self._check_nul(carry)
        self.sha256 = self._hash.hexdigest()
        if carry:
            self.lines_done += 1
            yield [carry]

    def digest_rest(self) -> tuple[str, int]:
        """The SHA-256 and size of the whole file, hashing what is not read yet; the read position is kept.

        For a seekable file whose rest another process has read: the digest needs every byte in order.
        """
        digest, size = self._hash.copy(), self.bytes_read
        position = self.binary.tell()
        while chunk := self.binary.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        self.binary.seek(position)
        return digest.hexdigest(), size

    def _start(self) -> bytes:
        """Read the first chunk, refuse binary containers, pick the encoding from the BOM."""
        data = self._read()
        while 0 < len(data) < 4:
            more = self._read()
            if not more:
                break
            data += more
        if not data:
            raise ReportError(1, "the file is empty")
        self.refuse_binary(data)
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            self.encoding = "utf-16-le" if data.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
            self._decode = self._decode_with(codecs.getincrementaldecoder("utf-16")("strict"))
            return data
        if looks_like_bomless_utf16(data[:1024]):
            raise ReportError(1, "the file looks like UTF-16 without a byte-order mark; re-export it as UTF-8")
        if looks_binary(data[:4096]):
            self.not_text("binary_file", "binary data (a program, image or database file, or a damaged download)")
        if data.startswith(codecs.BOM_UTF8):
            self.encoding = "utf-8-sig"
            return data[3:]
        self.encoding = "utf-8"
        return data

    def refuse_binary(self, data: bytes) -> None:
        """Name the kind of file whose first bytes show it is a container (XLSX, ZIP, PDF …), not a report."""
        for magic, kind, what in SIGNATURES:
            if data.startswith(magic):
                if kind == "zip_archive":
                    kind, what = next(((k, w) for name, k, w in ZIP_CONTENTS if name in data), (kind, what))
                self.not_text(kind, what)

    def not_text(self, kind: str, what: str) -> NoReturn:
        """Raise the one error a binary upload gets; its kind and 'binary' encoding show in the preview."""
        self.encoding = "binary"
        raise ReportError(1, f"this is not a text report: it looks like {what}; {ADVICE.get(kind, DOWNLOAD_AGAIN)}",
                          kind)

    def _decode_with(self, decoder: codecs.IncrementalDecoder) -> Callable[[bytes, bool], str]:
        """A decode function around an incremental decoder whose errors name the line."""

        def decode(data: bytes, final: bool) -> str:
            try:
                return decoder.decode(data, final)
            except UnicodeDecodeError as exc:
                message = f"the text is not valid {self.encoding} ({exc.reason})"
                raise ReportError(self.lines_done + 1, message) from None

        return decode

    def _decode_utf8(self, data: bytes, final: bool) -> str:
        """Strict UTF-8; if the first bad byte comes before any non-ASCII text, switch to Windows-1252."""
        data = self._pending + data
        try:
            text, used = codecs.utf_8_decode(data, "strict", final)
        except UnicodeDecodeError as exc:
            good = data[: exc.start].decode("utf-8")
            line = self.lines_done + good.count("\n") + 1
            if self._multibyte_seen or not good.isascii():
                raise ReportError(
                    line, f"byte 0x{data[exc.start]:02x} is not UTF-8, yet earlier text is: the file mixes encodings"
                ) from None
            self.encoding = "windows-1252"
            self._decode = self._decode_cp1252
            self._pending = b""
            return good + self._decode_cp1252(data[exc.start :], final, line)
        self._pending = data[used:]
        if not self._multibyte_seen and not text.isascii():
            self._multibyte_seen = True
        return text

    def _decode_cp1252(self, data: bytes, final: bool, line: int | None = None) -> str:
        """Windows-1252 is one byte per character, so chunks need no carried state."""
        try:
            return data.decode("cp1252")
        except UnicodeDecodeError as exc:
            where = (line or self.lines_done + 1) + data[: exc.start].count(b"\n")
            raise ReportError(where, f"byte 0x{data[exc.start]:02x} is neither UTF-8 nor Windows-1252 text") from None

    def _check_nul(self, text: str) -> None:
        """Refuse NUL characters, naming their line: no report has them, damaged transfers do."""
        index = text.find("\x00")
        if index >= 0:
            line = self.lines_done + text.count("\n", 0, index) + 1
            raise ReportError(line, "the line contains NUL bytes: the file is binary or damaged, not a text report")


def looks_binary(head: bytes) -> bool:
    """True when control bytes, which no report text holds, are more than a trace of ``head``."""
    return sum(map(head.count, CONTROL)) > len(head) * BINARY_SHARE


def looks_like_bomless_utf16(head: bytes) -> bool:
    """True when every other byte is NUL, as in UTF-16 text of mostly ASCII characters."""
    if len(head) < 4 or b"\x00" not in head:
        return False
    even, odd = head[0::2], head[1::2]
    even_nul, odd_nul = even.count(0) / len(even), odd.count(0) / len(odd)
    return max(even_nul, odd_nul) > 0.4 and min(even_nul, odd_nul) < 0.05


def ends_lines_with_cr(text: str) -> bool | None:
    """Whether the first line break is a CR alone (True), LF or CRLF (False), or not yet known (None)."""
    cr, lf = text.find("\r"), text.find("\n")
    if lf >= 0 and (cr < 0 or lf < cr):
        return False
    if cr < 0 or cr == len(text) - 1:
        return None
    return text[cr + 1] != "\n"
