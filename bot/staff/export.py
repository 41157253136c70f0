"""CSV exports for staff (SPEC §3.7): UTF-8 with a BOM so that Excel reads
the letters right, citizens' text never run as a formula, and personal
columns only for roles that may see them (the caller decides, with
`bot.staff.permissions.shows_personal`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo
from typing import Any

BOM = "\ufeff"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """One CSV column: its header and whether it holds personal data."""

    name: str
    personal: bool = False


def cell(value: Any) -> str:
    """A value as text; text starting like a formula gets a leading `'`."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, int | float):
        return str(value)  # numbers are data, not citizens' text
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def write_csv(columns: Sequence[Column], rows: Iterable[Sequence[Any]], *,
              personal: bool) -> bytes:
    """The CSV bytes; each row has one value per column, and personal
    columns are dropped entirely (header and values) when `personal` is false."""
    keep = [i for i, column in enumerate(columns) if personal or not column.personal]
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([columns[i].name for i in keep])
    for row in rows:
        writer.writerow([cell(row[i]) for i in keep])
    return buffer.getvalue().encode("utf-8")


def write_xlsx(columns: Sequence[Column], rows: Iterable[Sequence[Any]], *, personal: bool,
               tz: tzinfo, sheet: str = "export") -> bytes:
    """The same table as an XLSX workbook (one sheet): numbers and days as
    themselves, times as the municipality's local time (a workbook has no
    time zones), text through `cell` — openpyxl would store text starting
    with "=" as a formula. Personal columns are dropped as in `write_csv`."""
    from openpyxl import Workbook

    keep = [i for i, column in enumerate(columns) if personal or not column.personal]
    book = Workbook(write_only=True)
    page = book.create_sheet(sheet[:31])
    page.append([columns[i].name for i in keep])

    def value(item: Any) -> Any:
        if isinstance(item, datetime):
            return item.astimezone(tz).replace(tzinfo=None) if item.tzinfo else item
        if isinstance(item, date) or (isinstance(item, int | float)
                                      and not isinstance(item, bool)):
            return item
        return cell(item)

    for row in rows:
        page.append([value(row[i]) for i in keep])
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
