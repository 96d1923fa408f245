"""How much a chapter's smoke run slows down beside other CPU-bound processes, per thread policy.

Two workloads, each run in a fresh child process (so that OpenMP reads its variables anew):

- ``--workload chapter`` (default): one chapter notebook (``--notebook``, default the SCALE
  chapter) executed top to bottom in the smoke profile by papermill, as ``make notebooks`` does;
  the kernel inherits the child's thread variables;
- ``--workload loop``: LightGCN (3 layers, d = 64) trained with ``fit`` for ``--epochs`` epochs
  with an evaluation after each, on MovieLens-100K-shaped synthetic data (``bench_lightgcn.generate``):
  the inner loop of every chapter's smoke run.

Two policies:

- ``torch default``: ``MMREC_THREADS=off`` and no thread variables, so OpenMP spins while idle and
  torch takes one thread per core of the machine (the behaviour before :mod:`mmrec_lite.threads`);
- ``mmrec_lite policy``: no thread variables, so ``mmrec_lite.threads`` sets the thread count from
  the cores this process may use and ``OMP_WAIT_POLICY=PASSIVE``.

Each runs on the quiet machine and beside ``--hogs`` background ``yes > /dev/null`` loops (killed
at the end, also on Ctrl-C); the report prints wall seconds and the slowdown busy / quiet (target
for the policy: at most ~3x with two hogs on a 2-core machine). The runs are bounded by
``--timeout`` seconds each. "Quiet" means without the hogs: other jobs on the machine add their
own load, which the load average printed beside each run shows. Usage::

    python benchmarks/bench_threads.py [--workload chapter|loop] [--notebook notebooks/02_scale.ipynb]
                                       [--hogs 2] [--epochs 3] [--timeout 600]
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

POLICIES = ("torch default", "mmrec_lite policy")
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OMP_WAIT_POLICY", "MMREC_THREADS", "GOMP_SPINCOUNT",
                    "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "OPENBLAS_NUM_THREADS")


def workload(policy: str, args) -> None:
    """The child: run the workload, print ``seconds threads``."""
    import mmrec_lite  # noqa: F401  (applies the policy, or nothing under MMREC_THREADS=off)
    import torch

    start = time.perf_counter()
    if args.workload == "chapter":
        import tempfile

        from mmrec_lite.course.runner import run_notebook
        with tempfile.TemporaryDirectory() as out:
            run = run_notebook(args.notebook, out)
        if run.error:
            raise SystemExit(f"{args.notebook} failed: {run.error}")
    else:
        from bench_lightgcn import ML100K_SHAPE, generate
        from mmrec_lite.models import LightGCN
        from mmrec_lite.training import fit

        data = generate(*ML100K_SHAPE)
        model = LightGCN(data, embedding_dim=64, n_layers=3)
        start = time.perf_counter()
        fit(model, data, epochs=args.epochs, batch_size=2048, learning_rate=1e-3, eval_every=1, patience=None,
            device="cpu", progress=False)
    print(f"{time.perf_counter() - start:.2f} {torch.get_num_threads()}")


def timed_child(policy: str, args) -> tuple[float, str]:
    """Wall seconds of one child run and its torch thread count; a run past ``--timeout`` is
    stopped and reported as taking the timeout (a lower bound)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    if policy == "torch default":
        env["MMREC_THREADS"] = "off"
    cmd = [sys.executable, __file__, "--child", policy, "--workload", args.workload, "--notebook", args.notebook,
           "--epochs", str(args.epochs)]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             start_new_session=True)  # its own process group: the notebook's kernel too
    try:
        stdout, stderr = child.communicate(timeout=args.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        return args.timeout, "?"
    if child.returncode:
        raise SystemExit(f"{policy} run failed ({child.returncode}):\n{stderr[-3000:]}")
    seconds, threads = stdout.split()[-2:]
    return float(seconds), threads


def measure(args) -> None:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from mmrec_lite.threads import available_cores

    print(f"cores available to this process: {available_cores()} (of {os.cpu_count()} on the machine); "
          f"workload: " + (f"{args.notebook}, smoke profile, papermill" if args.workload == "chapter" else
                           f"LightGCN, {args.epochs} epochs + evaluations, ML-100K shape"))
    results = {}
    for hogs in (0, args.hogs):
        procs = [subprocess.Popen(["yes"], stdout=subprocess.DEVNULL) for _ in range(hogs)]
        try:
            time.sleep(0.5 if hogs else 0)
            for policy in POLICIES:
                load = os.getloadavg()[0]
                seconds, threads = timed_child(policy, args)
                results[policy, hogs] = seconds
                stopped = seconds >= args.timeout
                print(f"  {policy:18s} {hogs} hog(s): {'>' if stopped else ' '}{seconds:7.2f} s wall"
                      f"{' (stopped at --timeout)' if stopped else ''}, {threads} torch thread(s), "
                      f"load average {load:.1f}", flush=True)
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
    for policy in POLICIES:
        quiet, busy = results[policy, 0], results[policy, args.hogs]
        ratio = ("unknown (the quiet run was stopped)" if quiet >= args.timeout else
                 f"{'>=' if busy >= args.timeout else ''}{busy / quiet:.2f}x")
        print(f"slowdown beside {args.hogs} hog(s), {policy}: {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hogs", type=int, default=2, help="background `yes` loops of the busy runs")
    parser.add_argument("--workload", choices=("chapter", "loop"), default="chapter")
    parser.add_argument("--notebook", default=str(Path(__file__).resolve().parents[1] / "notebooks" / "02_scale.ipynb"))
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the loop workload")
    parser.add_argument("--timeout", type=float, default=600, help="seconds allowed per child run")
    parser.add_argument("--child", choices=POLICIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        workload(args.child, args)
    else:
        measure(args)


if __name__ == "__main__":
    main()
