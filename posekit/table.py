"""``Table``: a small table that prints as aligned text and shows as HTML in Jupyter (no pandas needed).

The result type of posekit's tables (``posekit.plot.keypoints_table``, the grouping trace's
``posekit.paf_trace_tables``); it needs neither matplotlib nor pandas.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["Table"]


class Table:
    """A small table that prints as aligned text and shows as HTML in Jupyter.

    Attributes:
        columns: column names.
        rows: list of row tuples (numbers or strings; NaN shows as "-"), all of them.
        caption: optional caption.
        max_rows: how many rows are shown; the rest are counted on a last line in text
            and folded into a collapsed ``<details>`` block in HTML. None: all rows.
    """

    def __init__(
        self,
        columns: Sequence[str],
        rows: Iterable[Sequence[Any]],
        caption: str = "",
        *,
        max_rows: int | None = None,
    ) -> None:
        if max_rows is not None and (isinstance(max_rows, bool) or int(max_rows) != max_rows or max_rows < 1):
            raise ValueError(f"max_rows must be a positive integer or None, got {max_rows!r}")
        self.columns = list(columns)
        self.rows = [tuple(r) for r in rows]
        self.caption = caption
        self.max_rows = None if max_rows is None else int(max_rows)

    @staticmethod
    def _cell(v: Any) -> str:
        if isinstance(v, float):
            return "-" if math.isnan(v) else f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"
        return str(v)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def hidden_rows(self) -> int:
        """How many rows ``max_rows`` keeps out of view."""
        return 0 if self.max_rows is None else max(0, len(self.rows) - self.max_rows)

    def __str__(self) -> str:
        shown = self.rows if self.max_rows is None else self.rows[: self.max_rows]
        cells = [self.columns] + [[self._cell(v) for v in r] for r in shown]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.columns))]
        lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in cells]
        lines.insert(1, "  ".join("-" * w for w in widths))
        if self.caption:
            lines.insert(0, self.caption)
        if self.hidden_rows:
            lines.append(f"... {self.hidden_rows} more rows (.rows holds all {len(self.rows)})")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def to_html(self) -> str:
        """The table as an HTML ``<table>``."""
        esc = html.escape
        head = "".join(f"<th style='text-align:right;padding:2px 8px'>{esc(c)}</th>" for c in self.columns)

        def body(rows: list[tuple[Any, ...]]) -> str:
            return "".join(
                "<tr>"
                + "".join(
                    f"<td style='text-align:right;padding:2px 8px'>{esc(self._cell(v))}</td>" for v in r
                )
                + "</tr>"
                for r in rows
            )

        cap = (
            f"<caption style='caption-side:top;text-align:left'>{esc(self.caption)}</caption>"
            if self.caption
            else ""
        )
        style = "border-collapse:collapse;font-family:monospace"
        n = len(self.rows) if self.max_rows is None else self.max_rows
        table = (
            f"<table style='{style}'>{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{body(self.rows[:n])}</tbody></table>"
        )
        if not self.hidden_rows:
            return table
        rest = (
            f"<table style='{style}'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body(self.rows[n:])}</tbody></table>"
        )
        return (
            f"{table}<details class='posekit-table-more'><summary>{self.hidden_rows} more rows</summary>"
            f"{rest}</details>"
        )

    def _repr_html_(self) -> str:
        return self.to_html()
