"""The one writer of tables: Markdown, aligned text and CSV from one list of columns; metric columns as the catalog says."""

import csv
import dataclasses
import io
import json
import math

from kind_tf2.files import atomic_write_text


def plain(value):
    """A cell as text: floats with up to 4 decimals (1 from 10 on, whole numbers above 100 without), inf and NaN as words."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if value == int(value) and abs(value) > 100:
            return f"{value:.0f}"
        return f"{value:.1f}" if abs(value) >= 10 else f"{value:.4f}"
    return "" if value is None else str(value)


@dataclasses.dataclass(frozen=True)
class Column:
    """One column: the row key it shows, its header, and how a value is written (`format(value) -> str`)."""

    key: str
    header: str
    format: object = plain


def metric_column(key, header=None, value_key=None):
    """A column of a registered metric (`psnr`, `niqe_input`, ...): its header and decimals from `metrics.catalog`.

    header: instead of the catalog's (e.g. "PSNR this run"); value_key: the row key when it is not
    the metric's name (the lab's `e2e_psnr`).
    """
    from kind_tf2.metrics import catalog

    m = catalog.describe(key)
    shown = header or m.header + (" in" if key.endswith("_input") else "")
    return Column(value_key or key, shown, lambda value, key=key: catalog.fmt(key, value))


def metric_columns(keys):
    """`metric_column` of each key."""
    return [metric_column(k) for k in keys]


class Table:
    """Rows (dicts, or lists in column order) under columns; written as Markdown, aligned text or CSV.

    A cell that is already a string is written as it is (a row of notes, a paper's figure).
    """

    def __init__(self, columns, rows=()):
        self.columns = [c if isinstance(c, Column) else Column(c, c) for c in columns]
        self.rows = [r if isinstance(r, dict) else dict(zip((c.key for c in self.columns), r)) for r in rows]

    def add(self, row):
        self.rows.append(row if isinstance(row, dict) else dict(zip((c.key for c in self.columns), row)))

    @property
    def header(self):
        return [c.header for c in self.columns]

    def cells(self):
        """Every row as its written cells (strings), in column order."""
        return [[v if isinstance(v := r.get(c.key), str) else ("" if v is None else c.format(v))
                 for c in self.columns] for r in self.rows]

    def markdown(self):
        """A GitHub Markdown table ('|' in cells escaped)."""
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.columns)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in self.cells()]
        return "\n".join(lines)

    def text(self, first=28, least=9):
        """Aligned for a terminal: the first column left in `first` characters, the others right-aligned."""
        widths = [first] + [max(least, len(h) + 2) for h in self.header[1:]]

        def line(cells):
            return f"{cells[0]:<{widths[0]}}" + "".join(f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:]))

        return "\n".join([line(self.header)] + [line(row) for row in self.cells()])

    def csv(self, raw=True):
        """CSV with the row keys as header; raw: numbers at full precision (`repr`), else as formatted."""
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow([c.key for c in self.columns])
        formatted = self.cells()
        for r, cells in zip(self.rows, formatted):
            w.writerow([_raw(r.get(c.key)) if raw else cell for c, cell in zip(self.columns, cells)])
        return out.getvalue()


def _raw(value):
    if isinstance(value, float):
        return repr(value)
    return "" if value is None else value


def write_csv(path, header, rows):
    """`rows` (lists) under `header` as CSV at `path`, values as Python writes them (floats at full precision)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(path, out.getvalue())


def write_json(path, doc, indent=1):
    """`doc` as JSON at `path` (NaN and inf allowed, as Python writes them), ending with a newline."""
    atomic_write_text(path, json.dumps(doc, indent=indent, allow_nan=True) + "\n")
