"""Reading an import file row by row: CSV (any common delimiter and encoding) or XLSX (the first sheet), told apart by
their content, never by their name.

Invariant: memory stays flat however large the file. CSV is decoded and parsed as a stream, a line at a time, and a
row longer than IMPORT_MAX_ROW_CHARS characters is never held whole (imports.bounded_lines): it is read past and
answered as an `OversizedRow`, which the import reports as a row error. XLSX is read with openpyxl's read-only
(streaming) reader after the archive was checked against zip bombs, and with defusedxml installed and any DTD refused,
so no XML entity is ever expanded; its rows over the same limit are answered the same way.
"""

import codecs
import contextlib
import csv
import datetime
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import defusedxml
from django.conf import settings

from imports.bounded_lines import HEAD_CHARS, BoundedLines, RowTooLong
from imports.errors import InvalidImportFile

# Zip bombs: refused before any XML is parsed. Real workbooks compress their sheets 5-30x; bombs, thousands of times.
XLSX_MAX_UNCOMPRESSED_BYTES = 2 * 1024 * 1024 * 1024
XLSX_MAX_COMPRESSION_RATIO = 200
XLSX_RATIO_MIN_ENTRY_BYTES = 1024 * 1024  # tiny parts (styles, empty sheets) may compress absurdly well
XLSX_MAX_ENTRIES = 10_000
XML_PROLOG_BYTES = 4096

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
ZIP_MAGIC = b"PK\x03\x04"
# Formats people send by mistake, named so the error says what the file is.
KNOWN_BINARY_MAGIC = {
    b"%PDF": "a PDF document",
    b"\xd0\xcf\x11\xe0": "a legacy Excel (.xls) or other OLE document; save it as XLSX or CSV",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"\x1f\x8b": "a gzip archive",
    b"PK\x05\x06": "an empty ZIP archive",
}
TEXT_CONTROL_ALLOWED = {"\t", "\n", "\r", "\f", "\x1a"}


class OversizedRow(dict[str, str]):
    """A row longer than IMPORT_MAX_ROW_CHARS characters, not read whole: the cells read from its start (often the
    email; none when they could not be told apart) and the row's length in characters."""

    def __init__(self, cells: Iterable[tuple[str, str]], *, length: int) -> None:
        super().__init__(cells)
        self.length = length


@dataclass(frozen=True)
class _CutRow:
    head: list[str]
    length: int


RawRow = list[str] | _CutRow


def max_row_chars() -> int:
    return settings.IMPORT_MAX_ROW_CHARS


def open_rows(path: Path) -> "RowReader":
    """A context manager over the rows of `path`: `.headers`, `.count_rows()`, and iteration over
    `(row_number, {header: value})` where the header is row 1 and fully empty rows are skipped (but keep their
    number, as in a spreadsheet); a row over IMPORT_MAX_ROW_CHARS comes as an `OversizedRow`. Raises
    InvalidImportFile for anything that is not a readable CSV or XLSX."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            head = file.read(SAMPLE_BYTES)
    except OSError as error:
        raise InvalidImportFile(f"The import file cannot be opened: {error.strerror}") from None
    if not head:
        raise InvalidImportFile("The import file is empty")
    if head.startswith(ZIP_MAGIC):
        return XlsxRowReader(path)
    for magic, what in KNOWN_BINARY_MAGIC.items():
        if head.startswith(magic):
            raise InvalidImportFile(f"The import file is {what}, not CSV or XLSX")
    return CsvRowReader(path, head)


class RowReader:
    headers: list[str]

    def __enter__(self) -> Self:
        try:
            self.open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def _raw_rows(self) -> Iterator[RawRow]:
        """Every row after the header as a list of strings, empty ones included (or a _CutRow)."""
        raise NotImplementedError

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Cells past the last header are ignored (a trailing delimiter is common); missing cells read as ""."""
        width = len(self.headers)
        for row_number, cells in enumerate(self._raw_rows(), start=2):
            if isinstance(cells, _CutRow):
                yield row_number, OversizedRow(zip(self.headers, cells.head, strict=False), length=cells.length)
                continue
            if not any(cell.strip() for cell in cells):
                continue
            if len(cells) < width:
                cells = [*cells, *([""] * (width - len(cells)))]
            yield row_number, dict(zip(self.headers, cells, strict=False))

    def count_rows(self) -> int:
        """How many non-empty data rows the file holds, in a pass of its own; over IMPORT_MAX_ROWS is refused."""
        limit = settings.IMPORT_MAX_ROWS
        count = 0
        for cells in self._counting_rows():
            if isinstance(cells, _CutRow) or any(cell.strip() for cell in cells):
                count += 1
                if count > limit:
                    raise InvalidImportFile(f"The import file has more than {limit} rows")
        return count

    def _counting_rows(self) -> Iterator[RawRow]:
        raise NotImplementedError


def _clean_headers(cells: list[str]) -> list[str]:
    headers = [cell.replace("\ufeff", "").strip() for cell in cells]
    while headers and not headers[-1]:
        headers.pop()  # trailing empty header cells: a trailing delimiter or formatted but empty columns
    if not headers:
        raise InvalidImportFile("The import file has no header row")
    if "" in headers:
        column = headers.index("") + 1
        raise InvalidImportFile(f"The header row has an empty column name (column {column})")
    seen: set[str] = set()
    for header in headers:
        if header.casefold() in seen:
            raise InvalidImportFile(f"The header row names the column {header!r} more than once")
        seen.add(header.casefold())
    return headers


# -- CSV ------------------------------------------------------------------------------------------------------------


class CsvRowReader(RowReader):
    def __init__(self, path: Path, head: bytes) -> None:
        self.path = path
        self.encoding = _detect_encoding(path, head)
        sample = _decode_sample(head, self.encoding)
        _refuse_binary(sample)
        self.delimiter = _detect_delimiter(sample)
        self._file: Any = None
        self._lines: BoundedLines | None = None
        self._reader: Any = None

    def _open_reader(self) -> tuple[Any, BoundedLines, Any]:
        file = self.path.open(encoding=self.encoding, newline="")
        lines = BoundedLines(file, limit=max_row_chars(), delimiter=self.delimiter)
        return file, lines, csv.reader(lines, delimiter=self.delimiter)

    def open(self) -> None:
        self._file, self._lines, self._reader = self._open_reader()
        header = self._next(self._lines, self._reader, 1)
        if header is None:
            raise InvalidImportFile("The import file has no header row")
        if isinstance(header, _CutRow):
            raise InvalidImportFile(f"The header row is longer than {max_row_chars()} characters")
        self.headers = _clean_headers(header)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _next(self, lines: BoundedLines, reader: Any, row_number: int) -> RawRow | None:
        try:
            cells = next(reader)
        except StopIteration:
            return None
        except RowTooLong as too_long:
            if too_long.spans_lines:
                raise InvalidImportFile(
                    f"Row {row_number} is longer than {max_row_chars()} characters and goes on over several lines "
                    "(a quote that is never closed?), so where the next row starts cannot be told"
                ) from None
            return _CutRow(too_long.head, too_long.length)
        except UnicodeDecodeError:
            raise InvalidImportFile(f"Row {row_number} is not valid {self.encoding} text") from None
        except csv.Error as error:
            raise InvalidImportFile(f"Row {row_number} cannot be read as CSV: {error}") from None
        lines.row_done()
        return cells

    def _rows_of(self, lines: BoundedLines, reader: Any) -> Iterator[RawRow]:
        row_number = 2
        while (cells := self._next(lines, reader, row_number)) is not None:
            yield cells
            row_number += 1

    def _raw_rows(self) -> Iterator[RawRow]:
        if self._reader is None or self._lines is None:
            raise RuntimeError("open_rows() must be used as a context manager")
        return self._rows_of(self._lines, self._reader)

    def _counting_rows(self) -> Iterator[RawRow]:
        file, lines, reader = self._open_reader()
        with file:
            self._next(lines, reader, 1)
            yield from self._rows_of(lines, reader)


def _detect_encoding(path: Path, head: bytes) -> str:
    """A BOM decides; otherwise UTF-8 if the whole file is valid UTF-8 (checked as a stream), else Windows-1252 if
    the sample decodes as it, else Latin-1 (which decodes anything)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if _is_utf8(path):
        return "utf-8"
    try:
        head.decode("cp1252")
    except UnicodeDecodeError:
        return "latin-1"
    return "cp1252"


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        with path.open("rb") as file:
            while chunk := file.read(SAMPLE_BYTES):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _decode_sample(head: bytes, encoding: str) -> str:
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    try:
        return decoder.decode(head, final=False)
    except UnicodeDecodeError:
        raise InvalidImportFile(f"The import file is not valid {encoding} text") from None


def _refuse_binary(sample: str) -> None:
    controls = sum(1 for char in sample if char < " " and char not in TEXT_CONTROL_ALLOWED)
    if "\x00" in sample or controls > len(sample) // 100:
        raise InvalidImportFile("The import file is binary, not CSV or XLSX")


def _detect_delimiter(sample: str) -> str:
    """The candidate occurring most often outside quotes in the header line (a one-column file has none: ",")."""
    counts = dict.fromkeys(DELIMITERS, 0)
    in_quotes = False
    for char in sample:
        if char == '"':
            in_quotes = not in_quotes
        elif in_quotes:
            continue
        elif char in "\r\n":
            break
        elif char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


# -- XLSX -----------------------------------------------------------------------------------------------------------


class XlsxRowReader(RowReader):
    def __init__(self, path: Path) -> None:
        self.path = path
        _check_xlsx_archive(path)
        self._resources: contextlib.ExitStack | None = None
        self._rows: Iterator[RawRow] | None = None

    def _open_sheet(self) -> tuple[contextlib.ExitStack, Iterator[RawRow]]:
        import openpyxl

        resources = contextlib.ExitStack()
        try:
            # A file object, not the path: openpyxl refuses names not ending in .xlsx, and content decides here.
            file = resources.enter_context(self.path.open("rb"))
            try:
                workbook = openpyxl.load_workbook(file, read_only=True, data_only=True, keep_links=False)
            except Exception as error:
                raise _unreadable_xlsx(error) from None
            resources.callback(workbook.close)
            if not workbook.worksheets:
                raise InvalidImportFile("The workbook has no worksheet")
            return resources, self._cells_of(workbook.worksheets[0])
        except BaseException:
            resources.close()
            raise

    @staticmethod
    def _cells_of(sheet: Any) -> Iterator[RawRow]:
        limit = max_row_chars()
        try:
            for values in sheet.iter_rows(values_only=True):
                cells = [cell_text(value) for value in values]
                length = sum(map(len, cells))
                yield cells if length <= limit else _CutRow(_head_cells(cells), length)
        except InvalidImportFile:
            raise
        except Exception as error:
            raise _unreadable_xlsx(error) from None

    def open(self) -> None:
        self._resources, self._rows = self._open_sheet()
        header = next(self._rows, None)
        if header is None:
            raise InvalidImportFile("The import file has no header row")
        if isinstance(header, _CutRow):
            raise InvalidImportFile(f"The header row is longer than {max_row_chars()} characters")
        self.headers = _clean_headers(header)

    def close(self) -> None:
        if self._resources is not None:
            self._resources.close()
            self._resources = None

    def _raw_rows(self) -> Iterator[RawRow]:
        if self._rows is None:
            raise RuntimeError("open_rows() must be used as a context manager")
        return self._rows

    def _counting_rows(self) -> Iterator[RawRow]:
        resources, rows = self._open_sheet()
        with resources:
            next(rows, None)
            yield from rows


def _head_cells(cells: list[str]) -> list[str]:
    """The first cells of an over-long row, as many as fit in HEAD_CHARS (as a CSV row's are)."""
    total = 0
    for index, cell in enumerate(cells):
        total += len(cell)
        if total > HEAD_CHARS:
            return cells[:index]
    return cells


def _unreadable_xlsx(error: Exception) -> InvalidImportFile:
    name = type(error).__name__
    cause: BaseException | None = error
    while cause is not None:  # openpyxl wraps parser errors in a ValueError
        if isinstance(cause, defusedxml.DefusedXmlException):
            return InvalidImportFile("The workbook declares XML entities, which are refused")
        cause = cause.__cause__ or cause.__context__
    return InvalidImportFile(f"The import file is not a readable XLSX workbook ({name})")


def _check_xlsx_archive(path: Path) -> None:
    """Refuse, before parsing: archives that are not workbooks, zip bombs (total size or compression ratio), and XML
    parts with a DTD (entity expansion). The sizes checked are the ones zipfile will enforce while reading."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            names = {entry.filename for entry in entries}
            if "xl/workbook.xml" not in names:
                raise InvalidImportFile("The import file is a ZIP archive but not an XLSX workbook")
            if len(entries) > XLSX_MAX_ENTRIES:
                raise InvalidImportFile("The workbook has too many parts")
            total = sum(entry.file_size for entry in entries)
            if total > XLSX_MAX_UNCOMPRESSED_BYTES:
                raise InvalidImportFile(
                    f"The workbook would unpack to {total} bytes; the limit is {XLSX_MAX_UNCOMPRESSED_BYTES}"
                )
            for entry in entries:
                ratio = entry.file_size / max(entry.compress_size, 1)
                if entry.file_size >= XLSX_RATIO_MIN_ENTRY_BYTES and ratio > XLSX_MAX_COMPRESSION_RATIO:
                    raise InvalidImportFile(
                        f"The workbook part {entry.filename} is compressed {ratio:.0f}:1; "
                        f"over {XLSX_MAX_COMPRESSION_RATIO}:1 is refused as a zip bomb"
                    )
            for entry in entries:
                if entry.filename.endswith((".xml", ".rels")):
                    with archive.open(entry) as part:
                        prolog = part.read(XML_PROLOG_BYTES)
                    if b"<!DOCTYPE" in prolog.upper() or b"<!ENTITY" in prolog.upper():
                        raise InvalidImportFile("The workbook declares XML entities, which are refused")
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError) as error:
        raise InvalidImportFile(f"The import file is a damaged ZIP archive ({error})") from None


def cell_text(value: Any) -> str:
    """A cell as the text a person sees: dates in ISO 8601, whole numbers without ".0", booleans as true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0) and value.tzinfo is None:
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime.timedelta):
        return str(value)
    return str(value)
