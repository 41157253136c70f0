"""Citizens' text in a staff export is never run as a formula (SPEC §3.7)."""

from __future__ import annotations

import csv
import io

import pytest

from bot.staff.export import Column, cell, write_csv


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1", "-1+1", "@SUM(A1)",
                                  "\t=1+1", "\r=1+1"])
def test_a_cell_that_could_start_a_formula_is_quoted(text: str) -> None:
    """A leading tab or carriage return also starts a formula in some
    spreadsheets (security review, item 11)."""
    assert cell(text) == "'" + text
    body = write_csv([Column("description")], [[text]], personal=False).decode("utf-8-sig")
    assert next(iter(csv.reader(io.StringIO(body[body.index("\n") + 1:]))))[0] == "'" + text


def test_ordinary_text_and_numbers_are_left_alone() -> None:
    assert cell("The street light is out") == "The street light is out"
    assert cell(-3) == "-3" and cell(None) == ""
