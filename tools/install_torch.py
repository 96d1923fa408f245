"""Install torch into a virtual environment: the CPU build where there is no GPU (``make venv``).

On Linux ``pip install torch`` resolves to the CUDA build (~2.7 GB with its NVIDIA packages) even on
a machine without a GPU. This script picks the wheel index:

1. ``TORCH_INDEX`` when set (e.g. ``https://download.pytorch.org/whl/cu124`` for a CUDA build;
   an empty value means pip's default index);
2. otherwise, on Linux without an NVIDIA GPU, PyTorch's CPU index (``CPU_INDEX``);
3. otherwise (a GPU, macOS, Windows) pip's default index, whose wheels fit those machines.

A chosen index that does not answer (offline mirror, firewall, only PyPI reachable) falls back to
the default index. numpy is installed first, so that torch finds it (without it every torch
import prints "Failed to initialize NumPy"). If ``TORCH_SPEC`` (e.g. ``torch==2.13.0``) has no
wheel on any index, an already installed torch is kept, else the index's newest torch is
installed. Finally the constraints file is written with its ``torch==`` line pinned to the torch
actually installed, so that no later package can replace it. Usage (the Makefile's)::

    python tools/install_torch.py --python .venv/bin/python --spec torch==2.13.0 \\
        --constraints constraints.txt --out .venv/constraints.txt
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

CPU_INDEX = "https://download.pytorch.org/whl/cpu"
DEFAULT_INDEX = ""  # pip's own (PyPI, or the user's pip.conf)

Runner = Callable[[Sequence[str]], int]


def gpu_present() -> bool:
    """True when an NVIDIA driver is loaded or ``nvidia-smi`` lists a GPU."""
    if Path("/proc/driver/nvidia/version").exists():
        return True
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return listing.returncode == 0 and "GPU" in listing.stdout


def choose_index(environ: Mapping[str, str], platform: str, has_gpu: Callable[[], bool]) -> str:
    """The index to try first: ``TORCH_INDEX``, else the CPU index on a GPU-less Linux, else default."""
    if "TORCH_INDEX" in environ:
        return environ["TORCH_INDEX"].strip()
    if platform.startswith("linux") and not has_gpu():
        return CPU_INDEX
    return DEFAULT_INDEX


def reachable(index: str, timeout: float = 10.0) -> bool:
    """True when the index answers for the ``torch`` project page (through the user's proxy)."""
    try:
        with urllib.request.urlopen(f"{index.rstrip('/')}/torch/", timeout=timeout) as response:
            return response.status < 400
    except (OSError, ValueError):
        return False


def pip_install(python: str, requirement: str, index: str = DEFAULT_INDEX) -> list[str]:
    command = [python, "-m", "pip", "install", "--quiet", requirement]
    return command + (["--index-url", index] if index else [])


def install(python: str, spec: str, index: str, run: Runner, is_reachable: Callable[[str], bool],
            torch_importable: Callable[[], bool], say: Callable[[str], None] = print) -> str:
    """Install numpy, then ``spec`` from ``index`` (falling back as the module docstring says);
    return the index torch came from (``""``: the default one)."""
    if run(pip_install(python, "numpy")) != 0:
        raise SystemExit("could not install numpy")
    if index and not is_reachable(index):
        say(f"{index} does not answer: installing torch from the default index")
        index = DEFAULT_INDEX
    where = index or "the default index"
    say(f"installing {spec} from {where}")
    if run(pip_install(python, spec, index)) == 0:
        return index
    if index and run(pip_install(python, spec)) == 0:
        say(f"{spec} is not on {index}: installed it from the default index")
        return DEFAULT_INDEX
    if torch_importable():
        say(f"{spec} is not available here: keeping the installed torch")
        return index
    say(f"{spec} is not available here: installing the index's torch")
    if run(pip_install(python, "torch", index)) != 0:
        raise SystemExit("could not install torch")
    return index


def pinned_constraints(text: str, torch_version: str) -> str:
    """``text`` with its ``torch==`` line pinned to ``torch_version`` (local tag such as +cpu dropped)."""
    return re.sub(r"(?m)^torch==\S+", "torch==" + torch_version.split("+")[0], text)


def _torch_version(python: str) -> str | None:
    probe = subprocess.run([python, "-c", "import torch; print(torch.__version__)"], capture_output=True, text=True)
    return probe.stdout.strip() if probe.returncode == 0 else None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="the environment's interpreter")
    parser.add_argument("--spec", default="torch", help="the torch requirement, e.g. torch==2.13.0")
    parser.add_argument("--constraints", type=Path, required=True, help="constraints file with a torch== line")
    parser.add_argument("--out", type=Path, required=True, help="where the pinned constraints go")
    args = parser.parse_args(argv)
    index = choose_index(os.environ, sys.platform, gpu_present)
    run = lambda command: subprocess.run(command).returncode  # noqa: E731
    install(args.python, args.spec, index, run, reachable, lambda: _torch_version(args.python) is not None)
    version = _torch_version(args.python)
    if version is None:
        raise SystemExit("torch does not import after the installation")
    args.out.write_text(pinned_constraints(args.constraints.read_text(), version))
    print(f"torch {version} installed; constraints pinned in {args.out}")


if __name__ == "__main__":
    main()
