"""Turn the runs of every scenario into medians, spreads, ratios, goal checks and a table."""

from __future__ import annotations

import math
import statistics
from typing import Any

from plan import Metric, Scenario

SIDES: tuple[str, str] = ("ours", "peer")


def lookup(metrics: dict[str, Any], dotted_key: str) -> float | None:
    """Return the value at a ``name`` or ``name.sub key`` path (sub keys may hold spaces)."""
    head, _, rest = dotted_key.partition(".")
    value = metrics.get(head)
    if rest:
        value = value.get(rest) if isinstance(value, dict) else None

    if isinstance(value, (bool, int, float)):
        return float(value)

    return None


def spread(values: list[float]) -> dict[str, float] | None:
    values = [value for value in values if not math.isnan(value)]
    if not values:
        return None

    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "runs": len(values),
    }


def summarise_metric(
    metric: Metric, runs: dict[str, list[dict[str, Any]]], sides: tuple[str, str] = SIDES
) -> dict[str, Any]:
    """Medians and spreads of ``metric`` per side; the ratio is first side / second side."""
    summary: dict[str, Any] = {"label": metric.label, "unit": metric.unit}
    for side in sides:
        values = [lookup(run, metric.key) for run in runs[side]]
        summary[side] = spread([value for value in values if value is not None])

    ours, peer = summary[sides[0]], summary[sides[1]]
    if ours and peer and peer["median"]:
        summary["ratio"] = ours["median"] / peer["median"]

    if metric.goal is not None:
        summary["goal"] = metric.goal_text
        summary["goal_met"] = (
            bool(metric.goal(ours["median"], peer["median"])) if ours and peer else None
        )

    return summary


def summarise(
    scenario: Scenario, runs: dict[str, list[dict[str, Any]]], sides: tuple[str, str] = SIDES
) -> dict[str, Any]:
    return {metric.key: summarise_metric(metric, runs, sides) for metric in scenario.metrics}


def _number(value: float, digits: int) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"

    return f"{value:.{digits}f}"


def _cell(figures: dict[str, float] | None, metric: Metric) -> str:
    if not figures:
        return "n/a"

    median = _number(figures["median"], metric.digits)
    if figures["runs"] == 1:
        return median

    low, high = _number(figures["min"], metric.digits), _number(figures["max"], metric.digits)
    return f"{median} [{low}-{high}]"


def _comparison(summary: dict[str, Any], metric: Metric) -> str:
    ratio = summary.get("ratio")
    if ratio is None or ratio == 0:
        return ""

    # say it the way people read it: "3.2x faster" / "1.5x slower"
    better = ratio if metric.higher_is_better else 1 / ratio
    word = "better" if better >= 1 else "worse"
    factor = better if better >= 1 else 1 / better
    return f"{ratio:.2f} ({factor:.1f}x {word})"


def format_table(
    scenarios: list[Scenario], summaries: dict[str, dict[str, Any]], sides: tuple[str, str] = SIDES
) -> str:
    """Render every scenario as rows of: figure, first side, second side, first/second, goal."""
    first, second = sides
    headers = (
        "figure",
        f"{first} median [min-max]",
        f"{second} median [min-max]",
        f"{first}/{second}",
        "goal",
    )
    rows: list[tuple[str, ...] | str] = []
    for scenario in scenarios:
        if scenario.name not in summaries:
            continue
        rows.append(scenario.title)
        for metric in scenario.metrics:
            summary = summaries[scenario.name][metric.key]
            if summary[first] is None and summary[second] is None:
                continue
            unit = f" ({metric.unit})" if metric.unit else ""
            goal = ""
            if "goal" in summary:
                verdict = {True: "MET", False: "MISSED", None: "?"}[summary["goal_met"]]
                goal = f"{summary['goal']}: {verdict}"
            rows.append(
                (
                    "  " + metric.label + unit,
                    _cell(summary[first], metric),
                    _cell(summary[second], metric),
                    _comparison(summary, metric),
                    goal,
                )
            )

    widths = [len(header) for header in headers]
    for row in rows:
        if isinstance(row, tuple):
            widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(cells: tuple[str, ...]) -> str:
        label = cells[0].ljust(widths[0])
        others = [cell.rjust(width) for cell, width in zip(cells[1:-1], widths[1:-1], strict=True)]
        return "  ".join([label, *others, cells[-1]]).rstrip()

    if first == second:  # one side only: its column once, no ratio
        rows = [row[:2] + row[4:] if isinstance(row, tuple) else row for row in rows]
        headers = headers[:2] + headers[4:]
        widths = widths[:2] + widths[4:]

    output = [line(headers), "-" * (sum(widths) + 2 * (len(widths) - 1))]
    for row in rows:
        output.append(line(row) if isinstance(row, tuple) else "\n" + row)

    return "\n".join(output)
