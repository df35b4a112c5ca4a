import collections
import csv
import datetime
import io
import tracemalloc
import zipfile
from pathlib import Path

import openpyxl
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from imports.errors import InvalidImportFile
from imports.readers import cell_text, open_rows


def write(tmp_path: Path, data: bytes, name: str = "file.bin") -> Path:
    # Deliberately misleading names: the reader must go by content.
    path = tmp_path / name
    path.write_bytes(data)
    return path


def read_all(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    with open_rows(path) as rows:
        return rows.headers, list(rows)


def refusal(path: Path) -> str:
    with pytest.raises(InvalidImportFile) as caught, open_rows(path) as rows:
        list(rows)
    return caught.value.message


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
def test_csv_delimiters_are_detected(tmp_path, delimiter):
    text = delimiter.join(["email", "first_name", "city"]) + "\n"
    text += delimiter.join(["ada@example.com", "Ada", "London, UK" if delimiter != "," else '"London, UK"']) + "\n"
    headers, rows = read_all(write(tmp_path, text.encode(), "data.xlsx"))
    assert headers == ["email", "first_name", "city"]
    assert rows == [(2, {"email": "ada@example.com", "first_name": "Ada", "city": "London, UK"})]


@pytest.mark.parametrize(
    ("encoding", "prefix"),
    [
        ("utf-8", b""),
        ("utf-8", b"\xef\xbb\xbf"),
        ("utf-16-le", b"\xff\xfe"),
        ("utf-16-be", b"\xfe\xff"),
        ("cp1252", b""),
        ("latin-1", b""),
    ],
)
def test_csv_encodings_are_detected(tmp_path, encoding, prefix):
    name = "Zoë “Zo” Müller" if encoding == "cp1252" else "Zoë Müller"
    data = prefix + f"email;name\r\nzoe@example.com;{name}\r\n".encode(encoding)
    headers, rows = read_all(write(tmp_path, data))
    assert headers == ["email", "name"]
    assert rows == [(2, {"email": "zoe@example.com", "name": name})]


def test_a_bom_and_spaces_around_headers_are_removed(tmp_path):
    headers, _ = read_all(write(tmp_path, "\ufeff Email , First Name \nada@example.com,Ada\n".encode()))
    assert headers == ["Email", "First Name"]


def test_late_non_utf8_bytes_make_the_whole_file_windows_1252(tmp_path):
    body = b"email,name\n" + b"a@example.com,Ann\n" * 10_000 + b"z@example.com,Jos\xe9\n"
    _, rows = read_all(write(tmp_path, body))
    assert rows[-1][1]["name"] == "José"


def test_quoted_newlines_delimiters_and_quotes_stay_in_their_cell(tmp_path):
    data = 'email,note,city\nada@example.com,"line one\nline two, with ""quotes""",Paris\nbob@example.com,,Rome\n'
    _, rows = read_all(write(tmp_path, data.encode()))
    assert rows == [
        (2, {"email": "ada@example.com", "note": 'line one\nline two, with "quotes"', "city": "Paris"}),
        (3, {"email": "bob@example.com", "note": "", "city": "Rome"}),
    ]


def test_empty_rows_are_skipped_but_keep_their_number_and_short_rows_are_padded(tmp_path):
    data = "email,name,city\na@example.com,A,X\n\n,,\nb@example.com\nc@example.com,C,Z,extra-ignored\n"
    with open_rows(write(tmp_path, data.encode())) as rows:
        assert list(rows) == [
            (2, {"email": "a@example.com", "name": "A", "city": "X"}),
            (5, {"email": "b@example.com", "name": "", "city": ""}),
            (6, {"email": "c@example.com", "name": "C", "city": "Z"}),
        ]
        assert rows.count_rows() == 3


def test_a_single_column_file_reads(tmp_path):
    _, rows = read_all(write(tmp_path, b"email\na@example.com\nb@example.com\n"))
    assert [row for _, row in rows] == [{"email": "a@example.com"}, {"email": "b@example.com"}]


def test_trailing_delimiter_in_the_header_is_ignored(tmp_path):
    headers, rows = read_all(write(tmp_path, b"email,name,\na@example.com,A,\n"))
    assert headers == ["email", "name"]
    assert rows == [(2, {"email": "a@example.com", "name": "A"})]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"email,name,email\na@example.com,A,b@example.com\n", "more than once"),
        (b"email,Email\na@example.com,b@example.com\n", "more than once"),
        (b"email,,name\na@example.com,x,A\n", "empty column name"),
        (b"\n\n\n", "no header"),
        (b"", "empty"),
    ],
)
def test_bad_headers_and_empty_files_are_refused(tmp_path, data, reason):
    assert reason in refusal(write(tmp_path, data))


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "PDF"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500), "legacy Excel"),
        (b"\x89PNG\r\n\x1a\n" + bytes(100), "PNG"),
        (bytes(range(256)) * 40, "binary"),
        (b"email\x00name\x00\n", "binary"),
    ],
)
def test_binary_files_are_refused(tmp_path, data, reason):
    assert reason in refusal(write(tmp_path, data, "contacts.csv"))


def test_a_zip_that_is_not_a_workbook_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("contacts.csv", "email\na@example.com\n")
    assert "not an XLSX workbook" in refusal(write(tmp_path, buffer.getvalue()))


def test_a_truncated_zip_is_refused(tmp_path):
    path = tmp_path / "book.xlsx"
    workbook = openpyxl.Workbook()
    workbook.active.append(["email"])
    workbook.save(path)
    data = path.read_bytes()
    assert "ZIP" in refusal(write(tmp_path, data[: len(data) // 2]))


def test_count_rows_counts_data_rows_and_refuses_more_than_the_limit(tmp_path, settings):
    path = write(tmp_path, b"email\n" + b"".join(b"u%d@example.com\n" % i for i in range(50)))
    with open_rows(path) as rows:
        assert rows.count_rows() == 50
        assert len(list(rows)) == 50  # counting did not consume the rows
    settings.IMPORT_MAX_ROWS = 49
    with pytest.raises(InvalidImportFile, match="more than 49 rows"), open_rows(path) as rows:
        rows.count_rows()


def test_a_large_csv_streams(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w") as file:
        file.write("email,name\n")
        for i in range(200_000):
            file.write(f"user{i}@example.com,Name {i}\n")
    with open_rows(path) as rows:
        assert rows.count_rows() == 200_000
        (last,) = collections.deque(rows, maxlen=1)
    assert last == (200_001, {"email": "user199999@example.com", "name": "Name 199999"})


def test_reading_a_csv_keeps_memory_flat(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w") as file:
        file.write("email,name,note\n")
        for i in range(120_000):
            file.write(f'user{i}@example.com,Name {i},"a note, with a comma"\n')
    assert path.stat().st_size > 5 * 1024 * 1024
    tracemalloc.start()
    try:
        with open_rows(path) as rows:
            rows.count_rows()
            for _ in rows:
                pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * 1024 * 1024  # buffers of a fixed size, whatever the file's


def test_an_oversized_cell_is_refused_with_its_row(tmp_path):
    data = b"email,note\na@example.com,ok\nb@example.com," + b"x" * 200_000 + b"\n"
    assert "Row 3" in refusal(write(tmp_path, data))


# -- XLSX -----------------------------------------------------------------------------------------------------------


def make_xlsx(path: Path, rows: list[list]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.create_sheet("Second").append(["ignored"])
    workbook.save(path)
    return path


def test_xlsx_first_sheet_reads_with_values_as_text(tmp_path):
    # Spreadsheet dates have no time zone: naive datetimes are what openpyxl reads back.
    seen = datetime.datetime(2024, 5, 17, 8, 30)  # noqa: DTZ001
    joined = datetime.datetime(2023, 1, 2)  # noqa: DTZ001
    path = make_xlsx(
        tmp_path / "upload.csv",  # the name lies; the content is a workbook
        [
            [" Email ", "Age", "Score", "Joined", "Seen", "Active", "Note"],
            ["ada@example.com", 36, 9.5, datetime.date(2024, 5, 17), seen, True, None],
            [None, None, None, None, None, None, None],
            ["bob@example.com", 41.0, 1e20, joined, None, False, "multi\nline"],
        ],
    )
    headers, rows = read_all(path)
    assert headers == ["Email", "Age", "Score", "Joined", "Seen", "Active", "Note"]
    assert rows == [
        (
            2,
            {
                "Email": "ada@example.com",
                "Age": "36",
                "Score": "9.5",
                "Joined": "2024-05-17",
                "Seen": "2024-05-17T08:30:00",
                "Active": "true",
                "Note": "",
            },
        ),
        (
            4,
            {
                "Email": "bob@example.com",
                "Age": "41",
                "Score": "1e+20",
                "Joined": "2023-01-02",
                "Seen": "",
                "Active": "false",
                "Note": "multi\nline",
            },
        ),
    ]
    with open_rows(path) as reader:
        assert reader.count_rows() == 2


def test_xlsx_row_limit_and_duplicate_headers(tmp_path, settings):
    path = make_xlsx(tmp_path / "book.xlsx", [["email"], *[[f"u{i}@example.com"] for i in range(5)]])
    settings.IMPORT_MAX_ROWS = 4
    with pytest.raises(InvalidImportFile, match="more than 4 rows"), open_rows(path) as rows:
        rows.count_rows()
    duplicated = make_xlsx(tmp_path / "dup.xlsx", [["email", "email"], ["a@example.com", "b@example.com"]])
    assert "more than once" in refusal(duplicated)


def test_an_empty_workbook_has_no_header(tmp_path):
    path = tmp_path / "empty.xlsx"
    openpyxl.Workbook().save(path)
    assert "no header" in refusal(path)


BILLION_LAUGHS_SHEET = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="inlineStr"><is><t>email</t></is></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>&lol9;</t></is></c></row>
</sheetData></worksheet>"""


def replace_part(source: Path, target: Path, part: str, content: str | bytes) -> Path:
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as rebuilt:
        for entry in original.infolist():
            rebuilt.writestr(entry, content if entry.filename == part else original.read(entry.filename))
    return target


def test_a_billion_laughs_workbook_is_refused(tmp_path):
    valid = make_xlsx(tmp_path / "valid.xlsx", [["email"], ["a@example.com"]])
    bomb = replace_part(valid, tmp_path / "lol.xlsx", "xl/worksheets/sheet1.xml", BILLION_LAUGHS_SHEET)
    assert "XML entities" in refusal(bomb)


def test_entities_are_refused_by_the_parser_too(tmp_path, monkeypatch):
    # Even past the archive check (defence in depth), defusedxml refuses the entity declarations while parsing.
    from imports import readers

    monkeypatch.setattr(readers, "XML_PROLOG_BYTES", 0)
    valid = make_xlsx(tmp_path / "valid.xlsx", [["email"], ["a@example.com"]])
    bomb = replace_part(valid, tmp_path / "lol.xlsx", "xl/worksheets/sheet1.xml", BILLION_LAUGHS_SHEET)
    assert "XML entities" in refusal(bomb)


def test_a_zip_bomb_is_refused_before_parsing(tmp_path):
    valid = make_xlsx(tmp_path / "valid.xlsx", [["email"], ["a@example.com"]])
    # 200 MB of zeros deflate to ~200 KB: a ratio near 1000:1.
    bomb = replace_part(valid, tmp_path / "bomb.xlsx", "xl/worksheets/sheet1.xml", b"\0" * (200 * 1024 * 1024))
    assert bomb.stat().st_size < 1024 * 1024
    assert "zip bomb" in refusal(bomb)


def test_a_workbook_declaring_a_huge_total_size_is_refused(tmp_path, monkeypatch):
    from imports import readers

    monkeypatch.setattr(readers, "XLSX_MAX_UNCOMPRESSED_BYTES", 1000)
    path = make_xlsx(tmp_path / "book.xlsx", [["email"], *[[f"u{i}@example.com"] for i in range(100)]])
    assert "would unpack to" in refusal(path)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        (3.0, "3"),
        (-12.0, "-12"),
        (0.1, "0.1"),
        (1234567890123.0, "1234567890123"),
        (True, "true"),
        (datetime.date(2020, 2, 29), "2020-02-29"),
        (datetime.time(13, 5), "13:05:00"),
        ("  kept as is ", "  kept as is "),
        (7, "7"),
    ],
)
def test_cell_text(value, text):
    assert cell_text(value) == text


# -- Property: whatever a CSV writer produces, the reader gives back ---------------------------------------------------

HEADER = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_0123456789 ", min_size=1, max_size=12).map(str.strip)
CELL = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), whitelist_characters="\n\r\t,;|\"' "), max_size=30
)


@st.composite
def tables(draw):
    headers = draw(st.lists(HEADER.filter(bool), min_size=2, max_size=5, unique_by=str.casefold))
    rows = draw(st.lists(st.lists(CELL, min_size=len(headers), max_size=len(headers)), max_size=20))
    return headers, rows


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    table=tables(),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]),
)
def test_csv_round_trip(tmp_path, table, delimiter, encoding):
    headers, rows = table
    path = tmp_path / "roundtrip.csv"
    with path.open("w", encoding=encoding, newline="") as file:
        writer = csv.writer(file, delimiter=delimiter)
        writer.writerow(headers)
        writer.writerows(rows)
    expected = [
        (number, dict(zip(headers, row, strict=True)))
        for number, row in enumerate(rows, start=2)
        if any(cell.strip() for cell in row)
    ]
    with open_rows(path) as reader:
        assert reader.headers == headers
        assert list(reader) == expected
        assert reader.count_rows() == len(expected)
