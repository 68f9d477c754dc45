"""docs/metrics.md's mapping table, read the way the tests need it."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
HEADER = "| Prometheus name(s) |"
WHERE = {"every member", "leader", "not in monitor"}
_CODE = re.compile(r"`([^`]+)`")


@dataclasses.dataclass(frozen=True)
class Row:
    prometheus: tuple[str, ...]  # metric names as selectors use them
    kind: str  # gauge, counter, summary..., as the table words it
    monitor: tuple[str, ...]  # keys of the admin server's `monitor`; may hold <sid>
    reported_by: str


def rows(doc: Path = DOC) -> list[Row]:
    lines = doc.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(HEADER))
    found = []
    for line in lines[start + 2 :]:  # past the header and its |---| line
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 5 or cells[3] not in WHERE:
            raise ValueError(f"{doc.name}: a mapping row must have 5 cells and say where: {line}")
        # Labels are introduced as "(label `x`: ...)"; only what precedes them are metrics.
        metrics = _CODE.findall(cells[0].split("(label")[0])
        found.append(Row(tuple(metrics), cells[1], tuple(_CODE.findall(cells[2])), cells[3]))
    return found


def prometheus_names(doc: Path = DOC) -> set[str]:
    return {name for row in rows(doc) for name in row.prometheus}
