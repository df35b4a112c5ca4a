"""The lines of a CSV text stream for `csv.reader`, never more than a bounded part of one row in memory.

`csv.reader` builds a row whole, whatever its size: `csv.field_size_limit` bounds one cell, not a row of millions of
empty cells (a line of commas). `BoundedLines` feeds the reader one physical line at a time with `readline(size)`,
and counts the characters of the current row (a quoted cell may span lines; the consumer calls `row_done()` after
each row). A row that would pass `limit` never reaches the reader: the rest of its line is read and dropped in
chunks of `DROP_CHUNK` characters, and `RowTooLong` is raised through the reader, which starts afresh at its next
call. Memory stays within about `limit` characters, whatever the row.

Where the dropped row ends is decided as `csv.reader` would decide it (`_quote_state` mirrors its states): at the end
of its line, unless that line ends inside a quoted cell. Such a row goes on over several lines, and where the
writer meant it to end cannot be told (an unclosed quote would swallow the rest of the file): `RowTooLong.spans_lines`
says so, and the reader refuses the file instead of guessing.
"""

import csv
import enum
from typing import TextIO

DROP_CHUNK = 64 * 1024
# How much of an over-long row's first line is parsed to name its first cells (often the email) in the report.
HEAD_CHARS = 4096


class RowTooLong(Exception):  # noqa: N818  (a signal through csv.reader, not an error of this module)
    def __init__(self, *, length: int, spans_lines: bool, head: list[str]) -> None:
        super().__init__(f"row of {length} characters")
        self.length = length  # characters of the row (of its lines read so far when it spans lines)
        self.spans_lines = spans_lines
        self.head = head  # the complete cells at the start of the row


class _State(enum.Enum):
    FIELD_START = enum.auto()
    IN_FIELD = enum.auto()
    IN_QUOTES = enum.auto()
    QUOTE_IN_QUOTES = enum.auto()  # a quote inside a quoted cell: its end, or the first of a doubled quote


def _quote_state(text: str, state: _State, delimiter: str) -> _State:
    """csv.reader's state after `text` (no line break inside), for the default dialect's quoting: a quote opens a
    quoted cell only at the start of a cell, `""` inside one is a quote, anything else after its closing quote
    continues the cell unquoted."""
    i, n, opening = 0, len(text), delimiter + '"'
    while i < n:
        if state is _State.IN_QUOTES:
            j = text.find('"', i)
            if j < 0:
                return state
            i, state = j + 1, _State.QUOTE_IN_QUOTES
        elif state is _State.QUOTE_IN_QUOTES:
            char = text[i]
            i += 1
            state = _State.IN_QUOTES if char == '"' else _State.FIELD_START if char == delimiter else _State.IN_FIELD
        elif state is _State.FIELD_START and text[i] == '"':
            i, state = i + 1, _State.IN_QUOTES
        else:  # unquoted: only a delimiter followed by a quote opens a quoted cell
            j = text.find(opening, i)
            if j < 0:
                return _State.FIELD_START if text[-1] == delimiter else _State.IN_FIELD
            i, state = j + 2, _State.IN_QUOTES
    return state


class BoundedLines:
    """An iterator of lines for csv.reader over `file` (opened with newline=""), raising RowTooLong for a row of
    more than `limit` characters."""

    def __init__(self, file: TextIO, *, limit: int, delimiter: str) -> None:
        self.file = file
        self.limit = limit
        self.delimiter = delimiter
        self.used = 0  # characters of the current row handed to the reader

    def __iter__(self) -> "BoundedLines":
        return self

    def row_done(self) -> None:
        self.used = 0

    def __next__(self) -> str:
        line = self.file.readline(self.limit - self.used + 1)
        if not line:
            raise StopIteration
        if self.used + len(line) > self.limit:
            raise self._drop_row(line)
        self.used += len(line)
        return line

    def _drop_row(self, text: str) -> RowTooLong:
        """Read the over-long row's line to its end (a chunk at a time), and say whether the row ends there."""
        length = self.used
        if length:  # the reader took a line of this row already: the row continues a quoted cell over lines
            self.used = 0
            return RowTooLong(length=length + len(text), spans_lines=True, head=[])
        head = self._head(text)
        state = _State.FIELD_START
        while text:
            length += len(text)
            body = text.rstrip("\r\n")
            if body:
                state = _quote_state(body, state, self.delimiter)
            if len(body) < len(text):  # the line's end
                if text.endswith("\r") and self._take_lf():
                    length += 1
                break
            text = self.file.readline(DROP_CHUNK)
        return RowTooLong(length=length, spans_lines=state is _State.IN_QUOTES, head=head)

    def _take_lf(self) -> bool:
        """Read the "\n" of a "\r\n" that readline(size) split (its size fell between them), if one comes next."""
        mark = self.file.tell()
        if self.file.read(1) == "\n":
            return True
        self.file.seek(mark)
        return False

    def _head(self, text: str) -> list[str]:
        """The complete cells at the start of an over-long row's first chunk."""
        whole_line = len(text) <= HEAD_CHARS and text.endswith(("\n", "\r"))
        cells = next(csv.reader([text[:HEAD_CHARS].rstrip("\r\n")], delimiter=self.delimiter), [])
        return cells if whole_line else cells[:-1]  # the last cell is cut
