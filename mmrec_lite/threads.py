"""The CPU thread policy: as many threads as the cores this process may use, waiting passively.

torch (and the BLAS under it) starts one OpenMP thread per *physical core of the machine* and
lets idle threads spin, busy-waiting for the next parallel region. On a machine shared with other
CPU-bound jobs that is the worst case: a container limited to 2 of 64 cores still gets 32+
threads, and spinning threads take turns with the threads doing the work. The policy here:

- threads = the cores actually available: the CPU affinity mask (``os.sched_getaffinity``),
  capped by a cgroup CPU quota (``cpu.max`` of cgroup v2, ``cpu.cfs_quota_us`` of v1);
- ``OMP_WAIT_POLICY=PASSIVE``: an idle OpenMP thread sleeps instead of spinning;
- numba (the compiled OMP kernel, ``graphs/omp_cpu.py``) gets the same count and its
  ``workqueue`` threading layer, whose idle threads sleep: with its OpenMP layer, threads left
  spinning after a kernel took a second core during the torch work that followed (measured with
  ``benchmarks/bench_omp.py --threads 1``: CPU time 1.17 s for 0.99 s of wall time).

``apply_thread_policy()`` runs when ``mmrec_lite`` is imported. It only fills variables the user
has not set (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``, ``OMP_WAIT_POLICY``, ``NUMBA_NUM_THREADS``,
``NUMBA_THREADING_LAYER``; ``MMREC_THREADS``
overrides the count; ``MMREC_THREADS=off`` turns the policy off and leaves torch's defaults), so an
explicit choice always wins. OpenMP reads its variables when torch
loads it, so the wait policy takes effect only when ``mmrec_lite`` is imported before ``torch``,
as every chapter's set-up cell does; the thread count is applied to an already imported torch
too. See ``book/troubleshooting.md`` ("A busy machine") and ``benchmarks/bench_threads.py``.
"""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

__all__ = ["available_cores", "cgroup_cpu_limit", "policy_environment", "apply_thread_policy"]

_CGROUP = Path("/sys/fs/cgroup")


def cgroup_cpu_limit(root: Path = _CGROUP) -> float | None:
    """The CPU quota of this process's cgroup in cores (e.g. 1.5), or None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]      # cgroup v2: "max 100000"
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota = int((root / "cpu" / "cpu.cfs_quota_us").read_text())    # cgroup v1: -1 = unlimited
        period = int((root / "cpu" / "cpu.cfs_period_us").read_text())
        return None if quota <= 0 else quota / period
    except (OSError, ValueError):
        return None


def available_cores(root: Path = _CGROUP) -> int:
    """The cores this process may run on: its affinity mask, capped by the cgroup quota (≥ 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    limit = cgroup_cpu_limit(root)
    if limit is not None:
        cores = min(cores, math.ceil(limit))
    return max(1, cores)


def _policy_off(environ) -> bool:
    return environ.get("MMREC_THREADS", "").strip().lower() == "off"


def policy_environment(environ: dict[str, str] | None = None, cores: int | None = None) -> dict[str, str]:
    """The variables the policy would add to ``environ`` (those already set are left alone)."""
    environ = os.environ if environ is None else environ
    if _policy_off(environ):
        return {}
    threads = environ.get("MMREC_THREADS") or str(cores or available_cores())
    wanted = {"OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OMP_WAIT_POLICY": "PASSIVE",
              "NUMBA_NUM_THREADS": threads, "NUMBA_THREADING_LAYER": "workqueue"}
    return {name: value for name, value in wanted.items() if not environ.get(name)}


def apply_thread_policy() -> int:
    """Fill the unset thread variables of ``os.environ``; return the torch thread count in force.

    An already imported torch gets ``torch.set_num_threads`` with the policy's count when the user
    set no ``OMP_NUM_THREADS`` of their own, and only to lower it: a smaller count chosen with
    ``torch.set_num_threads`` before the import is kept. ``MMREC_THREADS`` always sets it, and
    ``MMREC_THREADS=off`` changes nothing.
    """
    torch = sys.modules.get("torch")
    if _policy_off(os.environ):
        return torch.get_num_threads() if torch is not None and hasattr(torch, "get_num_threads") else available_cores()
    added = policy_environment()
    os.environ.update(added)
    first = os.environ["OMP_NUM_THREADS"].split(",")[0]   # "4,2" sets nested levels: the outer one counts
    threads = int(first) if first.strip().isdigit() else available_cores()
    if torch is not None and hasattr(torch, "set_num_threads"):
        if os.environ.get("MMREC_THREADS") or ("OMP_NUM_THREADS" in added and torch.get_num_threads() > threads):
            torch.set_num_threads(threads)
        threads = torch.get_num_threads()
    return threads
