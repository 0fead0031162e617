"""Turn the runs of every scenario into medians, spreads, ratios, goal checks and a table."""

from __future__ import annotations

import math
import statistics
from typing import Any

from plan import SIDES, Metric, Scenario


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
    metric: Metric, runs: dict[str, list[dict[str, Any]]], sides: tuple[str, ...] = SIDES
) -> dict[str, Any]:
    """
    Medians and spreads of ``metric`` per side, and the ratio first side / each other side.

    ``ratio`` is the one to the second side, ``ratios`` those to every other side. The goal is
    checked against the second side's median (3.11), or against the next side that has one
    where it has none (4.0 where 3.11 cannot run the scenario).
    """
    summary: dict[str, Any] = {"label": metric.label, "unit": metric.unit}
    for side in dict.fromkeys(sides):
        values = [lookup(run, metric.key) for run in runs.get(side, [])]
        summary[side] = spread([value for value in values if value is not None])

    ours = summary[sides[0]]
    ratios = {}
    for side in sides[1:] if metric.compare else ():
        peer = summary[side]
        if ours and peer and peer["median"]:
            ratios[side] = ours["median"] / peer["median"]
    if sides[1] in ratios:
        summary["ratio"] = ratios[sides[1]]
    if len(sides) > 2:
        summary["ratios"] = ratios

    if metric.goal is not None:
        reference = next((summary[side] for side in sides[1:] if summary[side]), None)
        verdict = (
            metric.goal(ours["median"], reference["median"] if reference else None)
            if ours
            else None
        )
        summary["goal"] = metric.goal_text
        summary["goal_met"] = None if verdict is None else bool(verdict)

    return summary


def summarise(
    scenario: Scenario, runs: dict[str, list[dict[str, Any]]], sides: tuple[str, ...] = SIDES
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


def _comparison(ratio: float | None, metric: Metric) -> str:
    if ratio is None or ratio == 0:
        return "n/a"

    # say it the way people read it: "3.2x faster" / "1.5x slower"
    better = ratio if metric.higher_is_better else 1 / ratio
    word = "better" if better >= 1 else "worse"
    factor = better if better >= 1 else 1 / better
    return f"{ratio:.2f} ({factor:.1f}x {word})"


def format_table(
    scenarios: list[Scenario],
    summaries: dict[str, dict[str, Any]],
    sides: tuple[str, ...] = SIDES,
) -> str:
    """
    Render every scenario as rows of: figure, each side, first side / each other side, goal.

    A side without figures shows "n/a" (never 0). With the same side twice (one tree of
    ``before_after.py``), its column shows once, without ratios.
    """
    first, others = sides[0], sides[1:]
    single = all(side == first for side in others)
    columns = (first,) if single else sides
    compared = () if single else others
    headers = (
        "figure",
        *(f"{side} median [min-max]" for side in columns),
        *(f"{first}/{side}" for side in compared),
        "goal",
    )
    rows: list[tuple[str, ...] | str] = []
    for scenario in scenarios:
        if scenario.name not in summaries:
            continue
        rows.append(scenario.title)
        for metric in scenario.metrics:
            summary = summaries[scenario.name][metric.key]
            if all(summary.get(side) is None for side in columns):
                continue
            unit = f" ({metric.unit})" if metric.unit else ""
            goal = ""
            if "goal" in summary:
                verdict = {True: "MET", False: "MISSED", None: "?"}[summary["goal_met"]]
                goal = f"{summary['goal']}: {verdict}"
            ratios = summary.get("ratios") or {others[0]: summary.get("ratio")}
            rows.append(
                (
                    "  " + metric.label + unit,
                    *(_cell(summary.get(side), metric) for side in columns),
                    *(
                        _comparison(ratios.get(side), metric) if metric.compare else "-"
                        for side in compared
                    ),
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

    output = [line(headers), "-" * (sum(widths) + 2 * (len(widths) - 1))]
    for row in rows:
        output.append(line(row) if isinstance(row, tuple) else "\n" + row)

    return "\n".join(output)


def worse_rows(
    scenarios: list[Scenario], summaries: dict[str, dict[str, Any]], sides: tuple[str, ...] = SIDES
) -> dict[str, list[str]]:
    """Per peer, the figures (with a goal or a rate/time) where ours is worse than that peer."""
    worse: dict[str, list[str]] = {side: [] for side in sides[1:]}
    for scenario in scenarios:
        for metric in scenario.metrics:
            summary = summaries.get(scenario.name, {}).get(metric.key)
            if not summary:
                continue
            ratios = summary.get("ratios") or {sides[1]: summary.get("ratio")}
            for side, ratio in ratios.items():
                if not ratio:
                    continue
                better = ratio if metric.higher_is_better else 1 / ratio
                if better < 1:
                    worse[side].append(f"{scenario.name}: {metric.label} ({1 / better:.2f}x)")
    return worse
