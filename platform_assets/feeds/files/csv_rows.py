"""A CSV read record by record, so a few bad lines cost those lines, not the file.

The fast reader (polars) fails the whole file on one line with an extra field or an unbalanced quote,
and reads a short line in the middle as a row with empty fields. `needs_record_check` says (cheaply,
on the lines' delimiter counts) when a file must be read here instead: every record whose field count
differs from the header's becomes a row with `_error` ('7 of 6 fields') and its text in `_raw`, and
the file's other rows land as the fast reader would give them.
"""

import csv
import io

import polars as pl


def needs_record_check(text: str, width: int) -> bool:
    """Whether some non-blank line of `text` (header first) may not have `width` fields. Lines with a
    quote are counted by the csv module (a quoted field may hold commas or span lines)."""
    lines = pl.Series("line", text.splitlines(), dtype=pl.String).slice(1)
    lines = lines.filter(lines.str.strip_chars() != "")
    if lines.str.contains('"', literal=True).any():
        return True
    return bool((lines.str.count_matches(",", literal=True) + 1 != width).any())


def read_records(text: str) -> pl.DataFrame:
    """Every record of the CSV `text` as text columns named by the header, `_line` being its first
    line counted from the line after the header (as the fast reader numbers rows), plus `_error` and
    `_raw` on records with another number of fields than the header. A quote left open swallows the
    lines after it into one record: those lines are read again one by one, so only the line holding
    the quote is lost."""
    physical = text.splitlines()
    reader = csv.reader(io.StringIO(text))
    header = next(reader, [])
    width, start, rows = len(header), reader.line_num, []
    for fields in reader:
        end = reader.line_num
        if end - start > 1 and len(fields) != width:  # an open quote ran over several lines
            rows.extend(_one_by_one(physical, start, end, width))
        elif any(f.strip() for f in fields):
            rows.append(_row(fields, start, width, "\n".join(physical[start:end])))
        start = end
    names = [name or f"column_{i + 1}" for i, name in enumerate(header)]
    schema = {**dict.fromkeys(names, pl.String), "_line": pl.Int64, "_error": pl.String, "_raw": pl.String}
    return pl.DataFrame([_named(r, names) for r in rows], schema=schema, orient="row")


def _one_by_one(physical: list[str], start: int, end: int, width: int) -> list[tuple]:
    """The physical lines start..end-1 (0-based) each read as a record of its own."""
    rows = []
    for index in range(start, min(end, len(physical))):
        line = physical[index]
        if not line.strip():
            continue
        fields = next(csv.reader([line]), [])
        row = _row(fields, index, width, line)
        if line.count('"') % 2 and row[2] is None:
            row = (row[0], row[1], "unbalanced quote", line)
        elif line.count('"') % 2:
            row = (row[0], row[1], f"unbalanced quote; {row[2]}", line)
        rows.append(row)
    return rows


def _row(fields: list[str], start: int, width: int, raw: str) -> tuple:
    """(fields, data line, error, raw text): error and raw only when the field count is wrong."""
    if len(fields) == width:
        return fields, start, None, None
    return fields, start, f"{len(fields)} of {width} fields", raw


def _named(row: tuple, names: list[str]) -> tuple:
    """The row in schema order. A record with the wrong field count is rejected whatever it holds (its
    text is kept); its leading fields are kept in place, so the keys usually first in a line (date,
    product, store) can still say which series-period it concerns."""
    fields, line, error, raw = row
    values = [*fields[: len(names)], *[None] * (len(names) - len(fields))]
    return (*values, line, error, raw)
