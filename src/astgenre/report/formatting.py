"""Number formatting and tables for the human-readable report files.

Fractions are shown as percent with one decimal ("84.3 ± 1.2"); missing values as an en dash. A :class:`Table` holds
the cells of one table exactly as the Markdown shows them; latex.py renders the same cells for LaTeX.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

MISSING = "–"


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value)


def percent(value: float | None) -> str:
    """A fraction as percent with one decimal ("0.843" -> "84.3")."""
    return MISSING if _missing(value) else f"{100 * value:.1f}"


def mean_std(mean: float | None, std: float | None) -> str:
    """ "84.3 ± 1.2", or "84.3" when std is missing (one seed)."""
    if _missing(mean):
        return MISSING
    return percent(mean) if _missing(std) else f"{percent(mean)} ± {percent(std)}"


def interval(low: float | None, high: float | None, clipped: bool = False) -> str:
    """ "[82.1, 86.5]" in percent, or the missing mark; with clipped, the bound that sits on 0 or 100 says so."""
    if _missing(low) or _missing(high):
        return MISSING
    low_text, high_text = percent(low), percent(high)
    if clipped and low <= 0:
        low_text += " (clipped)"
    if clipped and high >= 1:
        high_text += " (clipped)"
    return f"[{low_text}, {high_text}]"


def mean_std_interval(
    mean: float | None,
    std: float | None,
    low: float | None,
    high: float | None,
    *,
    clipped: bool = False,
    mark: str = "",
) -> str:
    """ "84.3 ± 1.2 [82.1, 86.5]"; only the parts that exist; ``mark`` (e.g. "†") follows the interval."""
    text = mean_std(mean, std)
    ci = interval(low, high, clipped)
    return text if ci == MISSING else f"{text} {ci}{mark}"


def signed_points(value: float | None) -> str:
    """A difference of fractions in percentage points with sign ("+1.3")."""
    return MISSING if _missing(value) else f"{100 * value:+.1f}"


def p_value(value: float | None) -> str:
    """Three significant digits, "< 0.001" below that."""
    if _missing(value):
        return MISSING
    return "< 0.001" if value < 0.001 else f"{value:.3g}"


def markdown_table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""

    def cell(value: object) -> str:
        return MISSING if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"markdown_table: row has {len(row)} cells for {len(headers)} headers: {row}")
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


COLUMN_KINDS = {"l": "text", "n": "number", "X": "wrapped text"}


@dataclass(frozen=True)
class Table:
    """One table of the report: its cells as the Markdown shows them, and what LaTeX needs besides.

    name: file stem of its LaTeX file and its label (``tab:<name>``).
    caption: the caption, plain text (its first sentence is the short caption).
    columns: one letter per column (COLUMN_KINDS): ``l`` text, ``n`` numbers (right-aligned; each number set with
        siunitx), ``X`` text wrapped to the width left over.
    wide: spans both columns of a two-column paper (``table*``).
    empty: what to say instead of rows when there are none.
    """

    name: str
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    columns: str
    wide: bool = True
    empty: str = ""

    def __post_init__(self) -> None:
        if len(self.columns) != len(self.headers) or set(self.columns) - set(COLUMN_KINDS):
            raise ValueError(f"table {self.name}: columns {self.columns!r} must give one of l, n, X per header")
        object.__setattr__(self, "headers", tuple(str(h) for h in self.headers))
        rows = tuple(tuple(MISSING if v is None else str(v) for v in row) for row in self.rows)
        object.__setattr__(self, "rows", rows)
        for row in rows:
            if len(row) != len(self.headers):
                raise ValueError(f"table {self.name}: row has {len(row)} cells for {len(self.headers)} headers: {row}")

    def markdown(self) -> str:
        """The table in GitHub-flavoured Markdown (no caption: the Markdown files say it around the table)."""
        return markdown_table(self.rows, self.headers)


def class_title(cls: str) -> str:
    """A class name for people: "jazz_blues" -> "jazz/blues"."""
    return cls.replace("_", "/")
