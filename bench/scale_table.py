"""The scale suite's figures and their markdown table: medians, ratios, targets met or not."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from scale_measure import BOUND, Outcome


@dataclass(frozen=True)
class Target:
    """A row's target as the issue states it (``text``) and the checks it amounts to."""

    text: str
    max_ratio: float | None = None  # ours / limit at most
    max_value: float | None = None  # ours at most, in the line's unit
    min_speedup: float | None = None  # 1.1.0 / ours at least


@dataclass
class Line:
    """One line of the table: a workload, every run of ours and of its limit, and 1.1.0's one run."""

    workload: str
    unit: str  # "s" or "MB"
    target: Target
    ours: list[Outcome] = field(default_factory=list)
    limit: list[Outcome] | None = None  # None: the target is absolute
    limit_what: str = ""
    published: Outcome | None = None  # None: 1.1.0 not run for this line


def median(outcomes: list[Outcome]) -> Outcome:
    """The median of the figures; if any run has none, why (the first such run)."""
    failures = [o for o in outcomes if isinstance(o, str)]
    if failures:
        return failures[0]
    if not outcomes:
        return "not run"
    return statistics.median([o for o in outcomes if not isinstance(o, str)])


def figure(outcome: Outcome | None, unit: str) -> str:
    if outcome is None:
        return "not run"
    if isinstance(outcome, str):
        return outcome
    return f"{outcome:.0f} MB" if unit == "MB" else f"{outcome:.2f} s"


def ratio(ours: Outcome, limit: Outcome) -> float | None:
    if isinstance(ours, str) or isinstance(limit, str) or limit <= 0:
        return None
    return ours / limit


def speedup(ours: Outcome, published: Outcome | None) -> tuple[float | None, bool]:
    """(1.1.0 / ours, whether that is only a lower bound because 1.1.0 ran out of time)."""
    if isinstance(ours, str) or ours <= 0 or published is None:
        return None, False
    if published == "timeout":
        return BOUND / ours, True
    if isinstance(published, str):
        return None, False
    return published / ours, False


def speedup_text(ours: Outcome, published: Outcome | None, unit: str) -> str:
    value, lower_bound = speedup(ours, published)
    if value is None:
        return "-"
    better, worse = ("less", "more") if unit == "MB" else ("faster", "slower")
    if lower_bound:
        return f"> {value:.1f}x {better} (1.1.0 timed out)"
    return f"{value:.1f}x {better}" if value >= 1 else f"{1 / value:.1f}x {worse}"


def verdicts(line: Line) -> list[tuple[str, bool | None]]:
    """Each check of the line's target: (what, met) with None when there is no figure to judge."""
    ours = median(line.ours)
    checks: list[tuple[str, bool | None]] = []
    target = line.target
    if target.max_ratio is not None:
        r = None if line.limit is None else ratio(ours, median(line.limit))
        checks.append((f"<= {target.max_ratio:g}x", None if r is None else r <= target.max_ratio))
    if target.max_value is not None:
        value = None if isinstance(ours, str) else ours
        checks.append((f"<= {target.max_value:g} {line.unit}", None if value is None else value <= target.max_value))
    if target.min_speedup is not None:
        up, _ = speedup(ours, line.published)
        checks.append((f">= {target.min_speedup:g}x vs 1.1.0", None if up is None else up >= target.min_speedup))
    return checks


def met_text(line: Line) -> str:
    def word(met: bool | None) -> str:
        return "?" if met is None else "yes" if met else "**no**"

    checks = verdicts(line)
    if len(checks) == 1:
        return word(checks[0][1])
    return ", ".join(f"{what}: {word(met)}" for what, met in checks)


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


HEADER = ["workload", "ours", "limit (what it is)", "ratio", "target", "met?", "1.1.0", "ours vs 1.1.0"]


def row_cells(line: Line) -> list[str]:
    ours = median(line.ours)
    if line.limit is None:
        limit_text, ratio_text = "-", "-"
    else:
        limit = median(line.limit)
        limit_text = f"{figure(limit, line.unit)} ({line.limit_what})"
        r = ratio(ours, limit)
        ratio_text = "-" if r is None else f"{r:.2f}x"
    return [
        line.workload,
        figure(ours, line.unit),
        limit_text,
        ratio_text,
        line.target.text,
        met_text(line),
        figure(line.published, line.unit),
        speedup_text(ours, line.published, line.unit),
    ]


def markdown(lines: list[Line]) -> str:
    rows = [HEADER, ["---"] * len(HEADER), *(row_cells(line) for line in lines)]
    return "\n".join("| " + " | ".join(cell(c) for c in row) + " |" for row in rows)


def raw_runs(lines: list[Line]) -> str:
    """Every run behind the medians, to judge the noise."""

    def runs(outcomes: list[Outcome], unit: str) -> str:
        return ", ".join(figure(o, unit) for o in outcomes) or "-"

    out = []
    for line in lines:
        text = f"- {line.workload.split(' ', 1)[0]} ours: {runs(line.ours, line.unit)}"
        if line.limit is not None:
            text += f"; limit: {runs(line.limit, line.unit)}"
        out.append(text)
    return "\n".join(out)
