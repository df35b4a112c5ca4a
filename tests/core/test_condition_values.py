"""Coercion of condition values (core.conditions.values): what a client may send, and that anything else is a
ValueError (which the compiler turns into INVALID_FILTER), never another exception."""

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.conditions import values as v

NOW = dt.datetime(2024, 3, 15, 10, 30, tzinfo=dt.UTC)


class TestAsDatetime:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("now", NOW),
            ("NOW", NOW),
            ("today", dt.datetime(2024, 3, 15, tzinfo=dt.UTC)),
            ("30 days ago", NOW - dt.timedelta(days=30)),
            ("1 day ago", NOW - dt.timedelta(days=1)),
            ("  2 Weeks From Now ", NOW + dt.timedelta(weeks=2)),
            ("3 hours ago", NOW - dt.timedelta(hours=3)),
            ("90 minutes from now", NOW + dt.timedelta(minutes=90)),
            ("1 month ago", NOW - dt.timedelta(days=30)),
            ("2 years ago", NOW - dt.timedelta(days=730)),
            ("0 days ago", NOW),
        ],
    )
    def test_relative(self, text, expected):
        assert v.as_datetime(text, now=NOW) == expected

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("2024-03-15T10:30:00.123Z", dt.datetime(2024, 3, 15, 10, 30, 0, 123000, tzinfo=dt.UTC)),
            ("2024-03-15T10:30:00+02:00", dt.datetime(2024, 3, 15, 8, 30, tzinfo=dt.UTC)),
            ("2024-03-15T10:30:00", dt.datetime(2024, 3, 15, 10, 30, tzinfo=dt.UTC)),
            ("2024-03-15", dt.datetime(2024, 3, 15, tzinfo=dt.UTC)),
        ],
    )
    def test_iso(self, text, expected):
        parsed = v.as_datetime(text, now=NOW)
        assert parsed == expected
        assert parsed.tzinfo is not None

    def test_uses_the_current_time_by_default(self):
        before = dt.datetime.now(dt.UTC)
        parsed = v.as_datetime("1 day ago")
        after = dt.datetime.now(dt.UTC)
        assert before - dt.timedelta(days=1) <= parsed <= after - dt.timedelta(days=1)

    @pytest.mark.parametrize(
        "value",
        [
            "yesterday",
            "30 days",
            "days ago",
            "-3 days ago",
            "3 fortnights ago",
            "123456 days ago",
            "2024-13-01",
            "2024-02-30",
            "2024-03-15T25:00:00",
            "",
            None,
            20240315,
            1.5,
            True,
            ["2024-03-15"],
            {"date": "2024-03-15"},
        ],
    )
    def test_rejects(self, value):
        with pytest.raises(ValueError, match="ISO 8601"):
            v.as_datetime(value, now=NOW)

    @pytest.mark.parametrize("text", ["99999 years ago", "99999 years from now"])
    def test_out_of_range_is_a_value_error(self, text):
        with pytest.raises(ValueError, match="out of range"):
            v.as_datetime(text, now=NOW)

    def test_date_text(self):
        assert v.as_date_text("2024-03-15T23:59:59Z") == "2024-03-15"
        assert v.as_date_text("2024-03-15") == "2024-03-15"
        assert v.as_date_text("today") == dt.datetime.now(dt.UTC).date().isoformat()


class TestAsNumber:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (10, 10),
            (-3, -3),
            (2.5, 2.5),
            ("10", 10),
            (" 7 ", 7),
            ("-4", -4),
            ("2.50", 2.5),
            ("1e3", 1000),
            ("10.0", 10),
            ("0.1", 0.1),
            (10**300, 10**300),
        ],
    )
    def test_accepts(self, value, expected):
        number = v.as_number(value)
        assert number == expected
        assert type(number) is type(expected)

    @pytest.mark.parametrize(
        "value",
        [
            "abc",
            "",
            "1,5",
            "1 2",
            "NaN",
            "nan",
            "Infinity",
            "-inf",
            "sNaN",
            "1e400",
            "1e999999999",
            "9" * 500,
            float("nan"),
            float("inf"),
            10**301,
            True,
            False,
            None,
            [1],
            {"n": 1},
        ],
    )
    def test_rejects(self, value):
        with pytest.raises(ValueError):
            v.as_number(value)

    @given(st.text())
    @settings(max_examples=300, deadline=None)
    def test_arbitrary_text_is_a_number_or_a_value_error(self, text):
        try:
            number = v.as_number(text)
        except ValueError:
            return
        assert isinstance(number, int | float)
        assert not isinstance(number, bool)
        assert math.isfinite(number)
        assert abs(number) <= v.MAX_NUMBER

    @given(st.from_regex(r"\A\s*[-+]?[0-9]{0,4}(\.[0-9]{0,4})?([eE][-+]?[0-9]{1,12})?\s*\Z"))
    @settings(max_examples=300, deadline=None)
    def test_number_like_text_is_a_number_or_a_value_error(self, text):
        try:
            number = v.as_number(text)
        except ValueError:
            return
        assert math.isfinite(number)

    @given(st.one_of(st.integers(), st.floats(), st.booleans(), st.none(), st.lists(st.integers(), max_size=2)))
    @settings(max_examples=200, deadline=None)
    def test_arbitrary_json_values_are_a_number_or_a_value_error(self, value):
        try:
            number = v.as_number(value)
        except ValueError:
            return
        assert math.isfinite(number)
        assert number == value


class TestAsBool:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [(True, True), (False, False), ("true", True), ("false", False), ("TRUE", True), ("False", False)],
    )
    def test_accepts(self, value, expected):
        assert v.as_bool(value) is expected

    @pytest.mark.parametrize("value", ["yes", "1", "", 1, 0, None, [True], "t"])
    def test_rejects(self, value):
        with pytest.raises(ValueError, match="true or false"):
            v.as_bool(value)


class TestAsString:
    @pytest.mark.parametrize(("value", "expected"), [("a", "a"), ("", ""), (5, "5"), (2.5, "2.5")])
    def test_accepts(self, value, expected):
        assert v.as_string(value) == expected

    @pytest.mark.parametrize("value", [None, True, ["a"], {"a": 1}, "a\x00b"])
    def test_rejects(self, value):
        with pytest.raises(ValueError):
            v.as_string(value)

    @given(st.text())
    @settings(max_examples=200, deadline=None)
    def test_arbitrary_text_is_itself_or_a_value_error(self, text):
        try:
            assert v.as_string(text) == text
        except ValueError:
            assert "\x00" in text


class TestAsListAndPair:
    def test_list(self):
        assert v.as_list([1, 2]) == [1, 2]
        assert v.as_list([]) == []
        for value in ("a", 1, None, {"a": 1}, (1, 2)):
            with pytest.raises(ValueError, match="array"):
                v.as_list(value)
        with pytest.raises(ValueError, match="at most 1000"):
            v.as_list(list(range(1001)))

    def test_pair(self):
        assert v.as_pair([1, 2]) == (1, 2)
        for value in ([1], [1, 2, 3], [], "1,2", None, {"from": 1, "to": 2}):
            with pytest.raises(ValueError, match="two values"):
                v.as_pair(value)


@given(st.text(max_size=40))
@settings(max_examples=300, deadline=None)
def test_as_datetime_never_raises_anything_but_value_error(text):
    try:
        parsed = v.as_datetime(text, now=NOW)
    except ValueError:
        return
    assert parsed.tzinfo is not None


@given(st.integers(min_value=0, max_value=99999), st.sampled_from(["minute", "hour", "day", "week", "month", "year"]))
@settings(max_examples=200, deadline=None)
def test_relative_dates_never_raise_anything_but_value_error(amount, unit):
    for direction in ("ago", "from now"):
        try:
            parsed = v.as_datetime(f"{amount} {unit}s {direction}", now=NOW)
        except ValueError:
            continue
        assert (parsed <= NOW) if direction == "ago" else (parsed >= NOW)
