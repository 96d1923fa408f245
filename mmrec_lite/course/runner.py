"""Execute chapter notebooks with papermill and time them.

Each notebook runs in a fresh ``python3`` kernel whose working directory is the notebook's own
folder (``notebooks/``), as in the book build (jupyter-book's default). Papermill injects the
parameters (by default ``PROFILE="smoke"``) after the cell tagged ``parameters`` and writes the
executed copy to ``_build/executed/<name>.ipynb`` (which nbval then re-runs to compare outputs);
the source notebook is never modified.

Kernels talk to papermill over IPC sockets on Linux and macOS (a kernel on TCP warns that it runs
"over TCP without encryption"), and inherit ``TQDM_DISABLE=1`` unless it is set: a progress bar
saved in an executed notebook would show frozen at its first frame.
"""
from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["NotebookRun", "run_notebook", "run_notebooks", "report"]

SMOKE_PARAMETERS = {"PROFILE": "smoke"}


@dataclass(frozen=True)
class NotebookRun:
    """The outcome of one execution: ``error`` is None when every cell ran."""

    path: Path
    output: Path
    seconds: float
    error: str | None


def run_notebook(path: str | Path, out_dir: str | Path = "_build/executed",
                 parameters: Mapping[str, Any] = SMOKE_PARAMETERS, kernel: str = "python3",
                 cell_timeout: int = 300) -> NotebookRun:
    """Execute one notebook with papermill; return its time and the first error, if any."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    os.environ.setdefault("TQDM_DISABLE", "1")
    path = Path(path)
    output = Path(out_dir) / path.name
    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    error = None
    try:
        papermill.execute_notebook(str(path), str(output), parameters=dict(parameters), kernel_name=kernel,
                                   cwd=str(path.parent.resolve()), progress_bar=False,
                                   execution_timeout=cell_timeout, config=_kernel_config())
    except PapermillExecutionError as exc:
        error = f"cell {exc.cell_index}: {exc.ename}: {exc.evalue}"
    except Exception as exc:  # kernel death, cell timeout, unreadable notebook: report, never hide
        error = f"{type(exc).__name__}: {exc}"
    return NotebookRun(path, output, time.perf_counter() - start, error)


def _kernel_config():
    """IPC transport where the system has Unix sockets; TCP (jupyter's default) elsewhere."""
    from traitlets.config import Config

    config = Config()
    if os.name == "posix":
        config.KernelManager.transport = "ipc"
    return config


def run_notebooks(paths: Iterable[str | Path], out_dir: str | Path = "_build/executed",
                  parameters: Mapping[str, Any] = SMOKE_PARAMETERS, max_seconds: float = 90.0,
                  kernel: str = "python3") -> list[NotebookRun]:
    """Run every notebook in turn, printing one line per notebook as it finishes."""
    runs = []
    for path in paths:
        run = run_notebook(path, out_dir, parameters, kernel)
        print(_line(run, max_seconds), flush=True)
        runs.append(run)
    return runs


def _line(run: NotebookRun, max_seconds: float) -> str:
    if run.error is not None:
        status = f"FAILED  {run.error}"
    elif max_seconds and run.seconds > max_seconds:
        status = f"SLOW    over the {max_seconds:g} s budget"
    else:
        status = "ok"
    return f"{run.seconds:7.1f} s  {run.path.name:<28} {status}"


def report(runs: list[NotebookRun], max_seconds: float, fail_on_slow: bool = True) -> int:
    """Print a summary; return the exit status: 1 if any run failed, or (with ``fail_on_slow``)
    exceeded ``max_seconds``. ``max_seconds`` = 0 reports times without a budget."""
    failed = [r for r in runs if r.error is not None]
    slow = [r for r in runs if r.error is None and max_seconds and r.seconds > max_seconds]
    total = sum(r.seconds for r in runs)
    print(f"{len(runs)} notebook(s) in {total:.1f} s: {len(failed)} failed, {len(slow)} over budget;"
          f" executed copies in {runs[0].output.parent if runs else '-'}")
    return 1 if failed or (slow and fail_on_slow) else 0
