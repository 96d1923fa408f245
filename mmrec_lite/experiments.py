"""Repeated runs over seeds: one table of mean ± std, and conclusions only where the spread allows.

A chapter writes one function ``run(seed) -> {row: {metric: value}}`` (a table of one run, e.g.
``{"LightGCN": {"recall@20": 0.31, "ndcg@20": 0.27}, ...}``) and calls :func:`over_seeds`::

    results = over_seeds(run, seeds=(0, 1, 2))
    results.table()                                   # "0.3120 ± 0.0040" per row and metric
    results.separated("SCALE", "LightGCN", "ndcg@20") # |Δ mean| > std_a + std_b ?
    results.compare("SCALE", "LightGCN", "ndcg@20")   # a sentence computed from the numbers

The standard deviation is the sample one (``ddof=1``). With one seed there is no spread: the table
says "(1 seed)" and :meth:`SeedResults.separated` is ``False``, so no prose can draw a conclusion from it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping

import pandas as pd

__all__ = ["over_seeds", "SeedResults"]

RunTable = Mapping[str, Mapping[str, float]]


@dataclass(frozen=True)
class SeedResults:
    """Every value of every run: ``runs`` has the columns ``seed``, ``row``, ``metric``, ``value``."""

    runs: pd.DataFrame

    @property
    def seeds(self) -> list[int]:
        return sorted(self.runs["seed"].unique().tolist())

    def _pivot(self, how: str) -> pd.DataFrame:
        grouped = self.runs.groupby(["row", "metric"], sort=False)["value"]
        values = grouped.mean() if how == "mean" else grouped.std(ddof=1)
        table = values.unstack("metric")
        rows = list(dict.fromkeys(self.runs["row"]))
        metrics = list(dict.fromkeys(self.runs["metric"]))
        return table.reindex(index=rows, columns=metrics)

    def mean(self) -> pd.DataFrame:
        """Mean over seeds, rows × metrics (rows and metrics in first-seen order)."""
        return self._pivot("mean")

    def std(self) -> pd.DataFrame:
        """Sample standard deviation over seeds (NaN with one seed)."""
        return self._pivot("std")

    def table(self, digits: int = 4) -> pd.DataFrame:
        """Strings ``"mean ± std"`` (``"mean (1 seed)"`` without a spread), rows × metrics."""
        mean, std = self.mean(), self.std()
        n = len(self.seeds)

        def cell(m: float, s: float) -> str:
            if math.isnan(m):
                return "–"
            if n < 2 or math.isnan(s):
                return f"{m:.{digits}f} (1 seed)"
            return f"{m:.{digits}f} ± {s:.{digits}f}"

        return pd.DataFrame([[cell(mean.iat[r, c], std.iat[r, c]) for c in range(mean.shape[1])]
                             for r in range(mean.shape[0])], index=mean.index, columns=mean.columns)

    def _stats(self, row: str, metric: str) -> tuple[float, float]:
        mean, std = self.mean(), self.std()
        if row not in mean.index or metric not in mean.columns:
            raise KeyError(f"no value for row {row!r}, metric {metric!r}; rows: {list(mean.index)}, "
                           f"metrics: {list(mean.columns)}")
        return float(mean.at[row, metric]), float(std.at[row, metric])

    def separated(self, row_a: str, row_b: str, metric: str) -> bool:
        """Whether the two means differ by more than the sum of their standard deviations.

        The course's rule for "a difference larger than the spread"; ``False`` with fewer than two seeds.
        """
        (mean_a, std_a), (mean_b, std_b) = self._stats(row_a, metric), self._stats(row_b, metric)
        if len(self.seeds) < 2 or math.isnan(std_a) or math.isnan(std_b):
            return False
        return abs(mean_a - mean_b) > std_a + std_b

    def compare(self, row_a: str, row_b: str, metric: str, digits: int = 4) -> str:
        """A sentence that states what the numbers allow, e.g. "A is higher than B on ndcg@20 ..."."""
        (mean_a, std_a), (mean_b, std_b) = self._stats(row_a, metric), self._stats(row_b, metric)
        n = len(self.seeds)
        numbers = (f"{row_a} {mean_a:.{digits}f} vs {row_b} {mean_b:.{digits}f} {metric}"
                   + ("" if n < 2 else f" (± {std_a:.{digits}f} / {std_b:.{digits}f}, {n} seeds)"))
        if n < 2:
            return f"{numbers}: one seed, no spread, so no conclusion."
        if not self.separated(row_a, row_b, metric):
            return f"{numbers}: the difference is within the seed-to-seed spread, so no conclusion."
        direction = "higher" if mean_a > mean_b else "lower"
        return f"{numbers}: {row_a} is {direction}, by more than the spread."


def over_seeds(run: Callable[[int], RunTable], seeds: Iterable[int] = (0, 1, 2)) -> SeedResults:
    """Call ``run(seed)`` for every seed and collect the tables into one :class:`SeedResults`."""
    records = []
    seeds = list(seeds)
    if not seeds:
        raise ValueError("over_seeds needs at least one seed")
    for seed in seeds:
        table = run(seed)
        if not table:
            raise ValueError(f"run({seed}) returned an empty table")
        for row, metrics in table.items():
            for metric, value in metrics.items():
                records.append({"seed": seed, "row": str(row), "metric": str(metric), "value": float(value)})
    return SeedResults(pd.DataFrame.from_records(records, columns=["seed", "row", "metric", "value"]))
