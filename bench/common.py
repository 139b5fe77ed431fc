"""What both benchmarks need: percentiles of measurements and plain-text tables."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float, *, nearest_rank: bool = False) -> float:
    """The ``q``-th percentile of ``values`` (NaN when there are none).

    Interpolated between the two nearest ranks by default. ``nearest_rank`` returns one of the
    values themselves, so that a latency percentile is a delivery that really took that long.
    """
    ordered = sorted(values)
    if not ordered:
        return math.nan
    if nearest_rank:
        rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
        return ordered[rank - 1]
    rank = q / 100 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[str]], *, bars: bool = False) -> None:
    """Print columns as wide as their widest cell, the cells right-aligned.

    ``bars`` puts `` | `` between the columns and aligns the headers and the first column left:
    the fan-out table has too many columns to follow a row by the spacing alone.
    """
    widths = [max([len(header), *(len(row[i]) for row in rows)]) for i, header in enumerate(headers)]
    sep, rule = (" | ", "-+-") if bars else ("  ", "  ")
    print(sep.join(h.ljust(w) if bars else h.rjust(w) for h, w in zip(headers, widths, strict=True)))
    print(rule.join("-" * w for w in widths))
    for row in rows:
        cells = enumerate(zip(row, widths, strict=True))
        print(sep.join(c.ljust(w) if bars and i == 0 else c.rjust(w) for i, (c, w) in cells))
