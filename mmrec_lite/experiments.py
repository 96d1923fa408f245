"""Repeated runs over seeds: one table of mean ± std, and conclusions only where the spread allows.

A chapter writes one function ``run(seed) -> {row: {metric: value}}`` (a table of one run, e.g.
``{"LightGCN": {"recall@20": 0.31, "ndcg@20": 0.27}, ...}``) and calls :func:`over_seeds`::

    results = over_seeds(run, seeds=(0, 1, 2))
    results.table()                                   # "0.3120 ± 0.0040" per row and metric
    results.separated("SCALE", "LightGCN", "ndcg@20") # |Δ mean| > std_a + std_b ?
    results.compare("SCALE", "LightGCN", "ndcg@20")   # a sentence computed from the numbers

The standard deviation is the sample one (``ddof=1``), and every statistic counts the seeds of its own
row: the table ends with a ``seeds`` column. Where a row has one seed there is no spread: the table
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
    """Every value of every run: ``runs`` has the columns ``seed``, ``row``, ``metric``, ``value``.

    Rows need not share their seeds (a row added later, a run cut short, a metric that is undefined —
    ``NaN`` — for one model): every statistic counts the seeds of its own row and metric.
    """

    runs: pd.DataFrame

    @property
    def seeds(self) -> list[int]:
        """Every seed that appears in any row."""
        return sorted(self.runs["seed"].unique().tolist())

    def _pivot(self, how: str) -> pd.DataFrame:
        grouped = self.runs.groupby(["row", "metric"], sort=False)["value"]
        values = {"mean": grouped.mean, "std": lambda: grouped.std(ddof=1), "count": grouped.count}[how]()
        table = values.unstack("metric")
        rows = list(dict.fromkeys(self.runs["row"]))
        metrics = list(dict.fromkeys(self.runs["metric"]))
        return table.reindex(index=rows, columns=metrics)

    def mean(self) -> pd.DataFrame:
        """Mean over seeds, rows × metrics (rows and metrics in first-seen order)."""
        return self._pivot("mean")

    def std(self) -> pd.DataFrame:
        """Sample standard deviation over the seeds of each row and metric (NaN with one seed)."""
        return self._pivot("std")

    def counts(self) -> pd.DataFrame:
        """How many seeds gave a value (not ``NaN``), rows × metrics."""
        return self._pivot("count").fillna(0).astype(int)

    def n_seeds(self, row: str) -> int:
        """How many seeds gave ``row`` at least one value."""
        present = self.runs[(self.runs["row"] == row) & self.runs["value"].notna()]
        return int(present["seed"].nunique())

    def table(self, digits: int = 4, seeds_column: bool = True) -> pd.DataFrame:
        """Strings ``"mean ± std"`` (``"mean (1 seed)"`` without a spread), rows × metrics, and a last
        column ``seeds`` with each row's number of seeds (``seeds_column=False`` leaves it out)."""
        mean, std, counts = self.mean(), self.std(), self.counts()

        def cell(m: float, s: float, n: int) -> str:
            if n == 0 or math.isnan(m):
                return "–"
            if n < 2 or math.isnan(s):
                return f"{m:.{digits}f} (1 seed)"
            return f"{m:.{digits}f} ± {s:.{digits}f}"

        table = pd.DataFrame([[cell(mean.iat[r, c], std.iat[r, c], counts.iat[r, c]) for c in range(mean.shape[1])]
                              for r in range(mean.shape[0])], index=mean.index, columns=mean.columns)
        if seeds_column:
            table["seeds"] = [self.n_seeds(row) for row in table.index]
        return table

    def _stats(self, row: str, metric: str) -> tuple[float, float, int]:
        mean, std, counts = self.mean(), self.std(), self.counts()
        if row not in mean.index or metric not in mean.columns:
            raise KeyError(f"no value for row {row!r}, metric {metric!r}; rows: {list(mean.index)}, "
                           f"metrics: {list(mean.columns)}")
        return float(mean.at[row, metric]), float(std.at[row, metric]), int(counts.at[row, metric])

    def separated(self, row_a: str, row_b: str, metric: str) -> bool:
        """Whether the two means differ by more than the sum of their standard deviations.

        The course's rule for "a difference larger than the spread"; ``False`` when either row has fewer
        than two seeds for ``metric``.
        """
        (mean_a, std_a, n_a), (mean_b, std_b, n_b) = self._stats(row_a, metric), self._stats(row_b, metric)
        if min(n_a, n_b) < 2 or math.isnan(std_a) or math.isnan(std_b):
            return False
        return abs(mean_a - mean_b) > std_a + std_b

    def compare(self, row_a: str, row_b: str, metric: str, digits: int = 4) -> str:
        """A sentence that states what the numbers allow, e.g. "A is higher than B on ndcg@20 ..."."""
        (mean_a, std_a, n_a), (mean_b, std_b, n_b) = self._stats(row_a, metric), self._stats(row_b, metric)
        seeds = f"{n_a} seeds" if n_a == n_b else f"{n_a} / {n_b} seeds"
        if min(n_a, n_b) < 2:
            numbers = f"{row_a} {mean_a:.{digits}f} vs {row_b} {mean_b:.{digits}f} {metric}"
            lacking = "one seed" if n_a == n_b == 1 else f"fewer than two seeds for {row_a if n_a < 2 else row_b}"
            return f"{numbers} ({seeds}): {lacking}, no spread, so no conclusion."
        numbers = (f"{row_a} {mean_a:.{digits}f} vs {row_b} {mean_b:.{digits}f} {metric}"
                   f" (± {std_a:.{digits}f} / {std_b:.{digits}f}, {seeds})")
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
