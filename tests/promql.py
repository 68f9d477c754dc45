"""The vector selectors of a PromQL expression, found by a small scan (no full parser).

Enough for the expressions this charm ships: it tells metric names from function names,
keywords and the label lists of by/without/on/ignoring/group_left/group_right, and keeps
each selector's {...} matchers. promtool is what proves the expressions parse.
"""

from __future__ import annotations

import dataclasses
import re

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<matchers>\{[^}]*\})
  | (?P<range>\[[^\]]*\])
  | (?P<number>\d+(?:\.\d+)?(?:e[+-]?\d+)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<open>\()
  | (?P<close>\))
  | (?P<other>\S)
    """,
    re.VERBOSE,
)

KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan"}
# Aggregations may come before their by (...) clause, so no parenthesis follows the name.
AGGREGATIONS = {
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
}
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}


@dataclasses.dataclass(frozen=True)
class Selector:
    metric: str
    matchers: str  # the text between the braces, "" when there are none


def selectors(expr: str) -> list[Selector]:
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr)]
    found = []
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind == "ident" and text in LABEL_LISTS and following[0] == "open":
            i = _past_closing(tokens, i + 1)
            continue
        if (
            kind == "ident"
            and following[0] != "open"
            and text.lower() not in KEYWORDS
            and text not in AGGREGATIONS
        ):
            matchers = following[1][1:-1] if following[0] == "matchers" else ""
            found.append(Selector(text, matchers.strip()))
        elif kind == "matchers" and (i == 0 or tokens[i - 1][0] != "ident"):
            raise ValueError(f"a selector without a metric name in {expr!r}: {text}")
        i += 1
    return found


def _past_closing(tokens, opening: int) -> int:
    depth = 0
    for j in range(opening, len(tokens)):
        if tokens[j][0] == "open":
            depth += 1
        elif tokens[j][0] == "close":
            depth -= 1
            if depth == 0:
                return j + 1
    raise ValueError("unbalanced parentheses")


def metric_names(expr: str) -> set[str]:
    return {s.metric for s in selectors(expr)}
