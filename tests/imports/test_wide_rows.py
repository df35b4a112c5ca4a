"""A row far longer than any real one (millions of delimiters, a huge cell) is never held whole in memory: the reader
reads past it in bounded chunks and the import reports it as a row error, while the rest of the file imports."""

import csv
import io
import tracemalloc
from pathlib import Path

import openpyxl
import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from imports.errors import InvalidImportFile
from imports.models import ImportJob, ImportRowError
from imports.readers import OversizedRow, open_rows
from subscribers.models import Subscriber
from tests.imports.test_engine import upload
from tests.imports.test_jobs_api import TRANSACTIONAL, make_list, worker  # noqa: F401  (the worker fixture)
from tests.imports.test_readers import tables

COMMAS = 5_000_000  # a row of 5 MB, five times the default limit


def write(tmp_path: Path, text: str, name: str = "wide.csv", newline: str = "\n") -> Path:
    path = tmp_path / name
    path.write_bytes(text.replace("\n", newline).encode())
    return path


def wide_file(tmp_path: Path, newline: str = "\n") -> Path:
    path = tmp_path / f"wide{len(newline)}.csv"
    with path.open("w", newline="") as file:
        file.write(f"email,first_name{newline}ann@example.com,Ann{newline}")
        file.write("bob@example.com,Bob" + "," * COMMAS + newline)
        file.write(f'carl@example.com,"Carl, quoted"{newline}dora@example.com,Dora{newline}')
    return path


def read(path: Path) -> tuple[list, int]:
    with open_rows(path) as reader:
        return list(reader), reader.count_rows()


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_row_of_millions_of_commas_is_read_past_in_bounded_memory(tmp_path, newline):
    path = wide_file(tmp_path, newline)
    tracemalloc.start()
    try:
        rows, count = read(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < COMMAS / 2  # about the default limit (1 MiB of text), not the row's 5 MB
    assert [number for number, _ in rows] == [2, 3, 4, 5]
    assert rows[0][1] == {"email": "ann@example.com", "first_name": "Ann"}
    wide = rows[1][1]
    assert isinstance(wide, OversizedRow)
    assert wide == {"email": "bob@example.com", "first_name": "Bob"}  # its first cells, read from its start
    assert wide.length == len("bob@example.com,Bob") + COMMAS + len(newline)
    assert rows[2][1] == {"email": "carl@example.com", "first_name": "Carl, quoted"}
    assert rows[3][1] == {"email": "dora@example.com", "first_name": "Dora"}
    assert count == 4


def test_the_limit_is_a_setting_and_applies_to_any_row(tmp_path, settings):
    settings.IMPORT_MAX_ROW_CHARS = 40
    text = (
        "email,note\n"
        f"a@example.com,{'x' * 60}\n"  # one huge cell
        'b@example.com,"a quoted cell, with ""quotes"" and delimiters",x\n'  # long, quotes closed on its line
        'c@example.com,"short\nand multi-line"\n'
        "d@example.com,fine\n"
    )
    rows, count = read(write(tmp_path, text))

    assert [(number, type(row).__name__) for number, row in rows] == [
        (2, "OversizedRow"),
        (3, "OversizedRow"),
        (4, "dict"),
        (5, "dict"),
    ]
    assert rows[1][1] == {"email": "b@example.com"}
    assert rows[2][1] == {"email": "c@example.com", "note": "short\nand multi-line"}
    assert count == 4


def test_a_row_that_passes_the_limit_inside_a_quoted_cell_over_several_lines_refuses_the_file(tmp_path, settings):
    """An unclosed quote makes the rest of the file one cell: where the writer meant rows to end cannot be told."""
    settings.IMPORT_MAX_ROW_CHARS = 1000
    text = 'email,note\na@example.com,ok\nb@example.com,"never closed\n' + "c@example.com,x\n" * 500
    with pytest.raises(InvalidImportFile, match="Row 3 is longer than 1000 characters and goes on over several"):
        read(write(tmp_path, text))


def test_an_over_long_line_that_leaves_a_quote_open_refuses_the_file(tmp_path, settings):
    settings.IMPORT_MAX_ROW_CHARS = 100
    text = "email,note\na@example.com," + "," * 200 + '"opened\nb@example.com,x\n'
    with pytest.raises(InvalidImportFile, match="Row 2 is longer than 100 characters and goes on"):
        read(write(tmp_path, text))


def test_an_over_long_header_refuses_the_file(tmp_path, settings):
    settings.IMPORT_MAX_ROW_CHARS = 100
    with pytest.raises(InvalidImportFile, match="header row is longer than 100 characters"):
        read(write(tmp_path, "email" + ",x" * 100 + "\na@example.com\n"))


def test_an_xlsx_row_over_the_limit_is_reported_the_same_way(tmp_path, settings):
    settings.IMPORT_MAX_ROW_CHARS = 100
    workbook = openpyxl.Workbook()
    for row in (["email", "note"], ["a@example.com", "x" * 5000], ["b@example.com", "fine"]):
        workbook.active.append(row)
    workbook.save(tmp_path / "book.xlsx")

    rows, count = read(tmp_path / "book.xlsx")

    assert isinstance(rows[0][1], OversizedRow) and rows[0][1] == {"email": "a@example.com"}
    assert rows[1] == (3, {"email": "b@example.com", "note": "fine"})
    assert count == 2


@hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables(), delimiter=st.sampled_from([",", ";", "\t", "|"]), limit=st.integers(5, 120))
def test_rows_under_the_limit_read_as_without_it_and_longer_ones_are_reported(tmp_path, table, delimiter, limit):
    """Whatever a CSV writer produces: a row of at most `limit` characters reads exactly as csv.reader reads it, a
    longer one on one line is an OversizedRow with the same number, and a longer one over several lines refuses."""
    headers, rows = table
    out = io.StringIO(newline="")
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(headers)
    written = [writer.writerow(row) for row in rows]  # writerow answers how many characters it wrote
    path = tmp_path / "rows.csv"
    path.write_text(out.getvalue(), encoding="utf-8", newline="")
    with open_rows(path) as reader:
        unbounded = list(reader)  # rows of at most 150 characters: far under the default limit
    limit = max(limit, len(out.getvalue().split("\r\n", 1)[0]) + 2)  # the header fits
    lengths = {number: length for number, length in enumerate(written, start=2)}
    over = {number for number, length in lengths.items() if length > limit}
    spanning = {number for number in over if any(char in "\r\n" for char in "".join(rows[number - 2]))}

    with override_settings(IMPORT_MAX_ROW_CHARS=limit):
        if spanning:
            with pytest.raises(InvalidImportFile) as refused:
                read(path)
            assert f"Row {min(spanning)} is longer than {limit} characters and goes on" in refused.value.message
            return
        bounded, count = read(path)
    kept = [(number, row) for number, row in unbounded if number not in over]
    assert [(number, row) for number, row in bounded if not isinstance(row, OversizedRow)] == kept
    assert {number for number, row in bounded if isinstance(row, OversizedRow)} == over
    assert all(row.length == lengths[number] for number, row in bounded if isinstance(row, OversizedRow))
    assert count == len(bounded)


@TRANSACTIONAL
def test_an_import_reports_the_wide_row_and_imports_the_others(api, worker, tmp_path):  # noqa: F811
    list_id = make_list(api)
    file_url = upload(wide_file(tmp_path).read_text(), name="wide.csv")
    job_id = api.post(f"/api/lists/{list_id}/import", {"file_url": file_url, "import_type": "create_update"}).json()[
        "id"
    ]

    worker.run()

    job = api.get(f"/api/lists/{list_id}/jobs/{job_id}").json()
    assert (job["status"], job["total_rows"], job["processed_rows"]) == ("completed", 4, 4)
    assert (job["created_contacts"], job["invalid_contacts"]) == (3, 1)
    assert set(Subscriber.objects.values_list("email", flat=True)) == {
        "ann@example.com",
        "carl@example.com",
        "dora@example.com",
    }
    error = ImportRowError.objects.get(job=ImportJob.objects.get(public_id=job_id))
    assert (error.row_number, error.email, error.error_type) == (3, "bob@example.com", "row_too_long")
    assert f"{len('bob@example.com,Bob') + COMMAS + 1} characters" in error.details
