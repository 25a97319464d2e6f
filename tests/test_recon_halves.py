"""Reading a report's later part in a helper process: the summary is always the one a single pass gives."""

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from scripts.make_date_range_report import write_report
from tests.recon_corpus.builders import DR_PREAMBLE, dr_file, dr_row, quoted
from webapp.reconciliation.reader.model import ReportSummary
from webapp.reconciliation.reader.packing import unpack
from webapp.reconciliation.reader.read import preview, summarize_report
from webapp.reconciliation.reader.two_cores import halves, helper

H = len(DR_PREAMBLE) + 1  # the header line; row n of a file is on line H + n
ROWS = [dr_row(order_id=f"113-0013318-{n:07d}", product_sales=f"{n}.99", selling_fees="-1.50") for n in range(1, 41)]


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Split every file (small ones too); the list records whether the helper's sums were used."""
    monkeypatch.setattr(halves, "MIN_BYTES", 0)
    results: list[bool] = []
    take = helper.SecondHalf.take

    def recording_take(self: helper.SecondHalf, line: int) -> bool:
        results.append(take(self, line))
        return results[-1]

    monkeypatch.setattr(helper.SecondHalf, "take", recording_take)
    return results


def split_at(monkeypatch: pytest.MonkeyPatch, data: bytes, line: int) -> None:
    """Make the helper start on physical line ``line`` of ``data``."""
    offset = 0
    for _ in range(line - 1):
        offset = data.index(b"\n", offset) + 1
    monkeypatch.setattr(halves, "boundary", lambda path, target, width: offset)


def both(tmp_path: Path, data: bytes, **options: object) -> tuple[ReportSummary, ReportSummary]:
    """The summary read with a helper, and the summary of one pass (which the first must equal)."""
    path = tmp_path / "report.csv"
    path.write_bytes(data)
    split = preview(path, **options)
    single = summarize_report(io.BytesIO(data), **options)  # type: ignore[arg-type]
    assert repr(split) == repr(single)
    return split, single


def generated(rows: int) -> bytes:
    """A generated report of ``rows`` rows."""
    out = io.BytesIO()
    write_report(out, rows=rows, seed=5)
    return out.getvalue()


def test_generated_report_read_in_two_parts_is_exact(tmp_path: Path, taken: list[bool]) -> None:
    split, _ = both(tmp_path, generated(5_000))
    assert taken == [True]
    assert split.ok and split.rows == 5_000


def staged_rows(chunks: list[tuple]) -> dict[tuple[str, str], list[tuple]]:
    """The rows of stored chunks per (settlement, state), in the order stored."""
    rows: dict[tuple[str, str], list[tuple]] = {}
    for settlement_id, state, _, data in chunks:
        for block in unpack(data):
            rows.setdefault((settlement_id, state), []).extend(
                zip(block.identities(), (block.skus[at] for at in block.sku_column), *block.columns, strict=True))
    return rows


def test_staged_transactions_of_both_parts_are_those_of_one_pass(tmp_path: Path, taken: list[bool]) -> None:
    """The helper's packed rows follow this process's, per (settlement, state), as one pass stages them."""
    data = generated(5_000)
    path = tmp_path / "report.csv"
    path.write_bytes(data)
    split: list[tuple] = []
    single: list[tuple] = []
    preview(path, transactions=lambda *chunk: split.append(chunk))
    summarize_report(io.BytesIO(data), transactions=lambda *chunk: single.append(chunk))
    assert taken == [True]
    assert staged_rows(split) == staged_rows(single) and sum(map(len, staged_rows(single).values())) > 4_000


def test_progress_counts_both_parts(tmp_path: Path, taken: list[bool]) -> None:
    path = tmp_path / "report.csv"
    path.write_bytes(generated(5_000))
    calls: list[tuple[int, int]] = []
    preview(path, progress=lambda rows, done: calls.append((rows, done)), progress_every=500)
    assert taken == [True]
    assert [rows for rows, _ in calls] == list(range(500, 5_001, 500))
    assert all(a[1] <= b[1] <= path.stat().st_size for a, b in zip(calls, calls[1:], strict=False))


@pytest.mark.parametrize("chunk_size", [256, 1 << 16])  # the boundary's line known from the reading, or counted
@pytest.mark.parametrize(("line", "used"), [(H + 21, False), (H + 22, False), (H + 23, True), (H + 25, True)])
def test_boundary_inside_a_quoted_multiline_field_is_read_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: list[bool], line: int, used: bool, chunk_size: int
) -> None:
    rows = list(ROWS)
    rows[19] = dr_row(order_id="113-0013318-0000020", description="Tool Bag,\n12\" wide,\nPack of 2",
                      product_sales="20.99", selling_fees="-1.50")  # row 20: lines H + 20 to H + 22
    data = dr_file(rows).encode()
    split_at(monkeypatch, data, line)
    split, _ = both(tmp_path, data, chunk_size=chunk_size)
    assert taken == [used]
    assert split.ok and split.rows == 40


@pytest.mark.parametrize("chunk_size", [256, 1 << 16])
def test_errors_after_the_boundary_keep_their_lines(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: list[bool], chunk_size: int
) -> None:
    lines = dr_file(ROWS).splitlines(keepends=True)
    lines[H + 30 - 1] = quoted(dr_row(product_sales="1.00", total="2.00")) + "\n"
    lines[H + 35 - 1] = lines[H + 35 - 1].replace('"Order"', '"Order"x')
    lines[H + 3 - 1] = quoted(dr_row(state="Ontario")) + "\n"
    lines[H + 32 - 1] = quoted(dr_row(state="BC")) + "\n"
    data = "".join(lines).encode()
    split_at(monkeypatch, data, H + 25)
    split, _ = both(tmp_path, data, chunk_size=chunk_size)
    assert taken == [True]
    assert [problem.line for problem in split.errors] == [H + 30, H + 35]
    assert [problem.line for problem in split.warnings if "outside the US" in problem.message] == [H + 3, H + 32]


CAFE_1252, CAFE_UTF8 = "café".encode("cp1252"), "café".encode()


@pytest.mark.parametrize(("first", "second", "used", "encoding"), [
    (CAFE_1252, b"cafe", True, "windows-1252"),  # the later part is ASCII: the same in both encodings
    (CAFE_1252, CAFE_UTF8, False, "windows-1252"),
    (CAFE_UTF8, CAFE_1252, False, "utf-8"),  # one pass finds the mix of encodings
    (b"cafe", CAFE_1252, False, "windows-1252"),  # one pass switches to Windows-1252 there
    (CAFE_UTF8, b"\x00", False, "utf-8"),
])
def test_encodings_of_the_two_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: list[bool], first: bytes, second: bytes, used: bool,
    encoding: str,
) -> None:
    rows = list(ROWS)
    rows[2] = dr_row(description="first part @1@", product_sales="1.00")  # row 3
    rows[34] = dr_row(description="later part @2@", product_sales="1.00")  # row 35
    data = dr_file(rows).encode().replace(b"@1@", first).replace(b"@2@", second)
    split_at(monkeypatch, data, H + 31)
    split, _ = both(tmp_path, data, chunk_size=256)  # the later part's bytes are not decoded before the boundary
    assert taken == [used]
    assert split.encoding == encoding


@pytest.mark.parametrize(("encode", "used"), [
    (lambda text: b"\xef\xbb\xbf" + text.encode(), True),
    (lambda text: text.encode("utf-16"), None),  # not split at all
    (lambda text: text.replace("\n", "\r\n").encode(), True),
    (lambda text: text.replace("\n", "\r").encode(), None),
])
def test_byte_order_marks_and_line_endings(
    tmp_path: Path, taken: list[bool], encode: Callable[[str], bytes], used: bool | None
) -> None:
    split, _ = both(tmp_path, encode(dr_file(ROWS)))
    assert taken == ([] if used is None else [used])
    assert split.ok and split.rows == 40


def test_a_first_row_that_one_pass_takes_unchecked_is_read_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: list[bool]
) -> None:
    rows = list(ROWS)
    rows[24] = dr_row(order_id="113-0013318-0000025", when="Jun 1, 2026 12:38 AM: PDT",
                      product_sales="25.99", selling_fees="-1.50")  # same settlement and day as the row before
    data = dr_file(rows).encode()
    split_at(monkeypatch, data, H + 25)
    split, _ = both(tmp_path, data)
    assert taken == [False]
    assert split.ok


def test_without_a_helper_process_the_file_is_read_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: list[bool]
) -> None:
    def no_process(*args: object, **kwargs: object) -> None:
        raise OSError("no more processes")

    monkeypatch.setattr(helper.subprocess, "Popen", no_process)
    split, _ = both(tmp_path, generated(1_000))
    assert taken == [] and split.ok and split.rows == 1_000


def test_damaged_cells_after_the_boundary_give_the_errors_and_warnings_of_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: list[bool]
) -> None:
    rows = list(ROWS)
    rows[5] = dr_row(order_id="113-0013318-0000006", product_sales="(6.99)", total="-6.99")  # row 6
    rows[27] = dr_row(order_id="1.13001E+18", product_sales="28.99")
    rows[29] = dr_row(order_id="113-0013318-0000030", sku="1.23E+05", product_sales="30.99")
    rows[31] = dr_row(order_id="113-0013318-0000032", when="6/1/2026 0:38", settlement="6503097032")
    rows[33] = dr_row(order_id="113-0013318-0000034", product_sales="$34", total="34.00")
    rows[35] = dr_row(order_id="113-0013318-0000036", product_sales="($36.00)", total="-36.00")
    data = dr_file(rows).encode()
    split_at(monkeypatch, data, H + 25)
    split, _ = both(tmp_path, data)
    assert taken == [True]
    assert [(problem.line, problem.message.split(" ")[0:2]) for problem in split.errors] == [
        (H + 28, ["order", "id"]), (H + 30, ["sku", "'1.23E+05'"]), (H + 32, ["date/time", "'6/1/2026"]),
        (H + 34, ["product", "sales:"])]
    assert [(problem.line, problem.message[-8:]) for problem in split.warnings] == [(H + 6, "(2 rows)")]
