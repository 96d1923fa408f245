"""tools/install_torch.py (``make venv``): which index torch comes from, and every fallback, with
pip and the network faked (the commands that would run are recorded)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "install_torch.py"
spec = importlib.util.spec_from_file_location("install_torch", TOOL)
install_torch = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install_torch)

CPU = install_torch.CPU_INDEX


class FakePip:
    """Records each pip command; ``fails`` lists (requirement, index) pairs that exit 1."""

    def __init__(self, fails=()):
        self.fails = set(fails)
        self.commands = []

    def __call__(self, command):
        self.commands.append(command)
        requirement = command[5]
        index = command[command.index("--index-url") + 1] if "--index-url" in command else ""
        return 1 if (requirement, index) in self.fails else 0

    def installs(self):
        return [(c[5], c[c.index("--index-url") + 1] if "--index-url" in c else "") for c in self.commands]


def run_install(pip, index=CPU, answers=True, importable=False):
    messages = []
    used = install_torch.install("py", "torch==2.13.0", index, pip, lambda url: answers, lambda: importable,
                                 messages.append)
    return used, messages


@pytest.mark.parametrize("environ, platform, gpu, expected", [
    ({}, "linux", False, CPU),                                   # ordinary Linux PC: the CPU build
    ({}, "linux", True, ""),                                     # a GPU: PyPI's CUDA build
    ({}, "darwin", False, ""),                                   # macOS wheels on PyPI are the right ones
    ({"TORCH_INDEX": "https://download.pytorch.org/whl/cu124"}, "linux", False,
     "https://download.pytorch.org/whl/cu124"),                  # the override wins
    ({"TORCH_INDEX": ""}, "linux", False, ""),                   # empty override: pip's default
])
def test_choose_index(environ, platform, gpu, expected):
    assert install_torch.choose_index(environ, platform, lambda: gpu) == expected


def test_cpu_index_is_used_when_it_answers_and_numpy_comes_first():
    pip = FakePip()
    used, _ = run_install(pip)
    assert used == CPU
    assert pip.installs() == [("numpy", ""), ("torch==2.13.0", CPU)]
    assert pip.commands[1] == ["py", "-m", "pip", "install", "--quiet", "torch==2.13.0", "--index-url", CPU]


def test_unreachable_index_falls_back_to_the_default_one():
    pip = FakePip()
    used, messages = run_install(pip, answers=False)
    assert used == ""
    assert pip.installs() == [("numpy", ""), ("torch==2.13.0", "")]
    assert messages[0] == f"{CPU} does not answer: installing torch from the default index"


def test_version_missing_on_the_chosen_index_is_tried_on_the_default_one():
    pip = FakePip(fails={("torch==2.13.0", CPU)})
    used, messages = run_install(pip)
    assert used == ""
    assert pip.installs()[1:] == [("torch==2.13.0", CPU), ("torch==2.13.0", "")]
    assert "installed it from the default index" in messages[-1]


def test_version_missing_everywhere_keeps_an_installed_torch():
    pip = FakePip(fails={("torch==2.13.0", CPU), ("torch==2.13.0", "")})
    used, messages = run_install(pip, importable=True)
    assert pip.installs()[1:] == [("torch==2.13.0", CPU), ("torch==2.13.0", "")]
    assert messages[-1] == "torch==2.13.0 is not available here: keeping the installed torch"


def test_version_missing_everywhere_without_torch_installs_the_newest_from_the_chosen_index():
    pip = FakePip(fails={("torch==2.13.0", CPU), ("torch==2.13.0", "")})
    used, _ = run_install(pip, importable=False)
    assert used == CPU
    assert pip.installs()[-1] == ("torch", CPU)


def test_failing_numpy_or_torch_install_stops():
    with pytest.raises(SystemExit, match="numpy"):
        run_install(FakePip(fails={("numpy", "")}))
    with pytest.raises(SystemExit, match="could not install torch"):
        run_install(FakePip(fails={("torch==2.13.0", CPU), ("torch==2.13.0", ""), ("torch", CPU)}))


def test_constraints_are_pinned_to_the_installed_torch():
    text = "# keep torch\ntorch==2.13.0\nnumpy>=1.24\n"
    assert install_torch.pinned_constraints(text, "2.11.1+cpu") == "# keep torch\ntorch==2.11.1\nnumpy>=1.24\n"


def test_reachable_is_false_for_an_address_that_cannot_answer():
    assert not install_torch.reachable("http://127.0.0.1:9/whl/cpu", timeout=2)
    assert not install_torch.reachable("not a url")


def test_make_venv_installs_torch_with_this_tool_before_the_package(tmp_path):
    """`make venv` (dry run, -n) calls tools/install_torch.py, and installs no torch of its own."""
    import subprocess
    root = TOOL.parents[1]
    dry = subprocess.run(["make", "-n", "-B", "venv", f"VENV={tmp_path / 'venv'}"], cwd=root,
                         capture_output=True, text=True, check=True).stdout.replace(str(tmp_path), "VENV").splitlines()
    tool = next(i for i, line in enumerate(dry) if "tools/install_torch.py" in line)
    package = next(i for i, line in enumerate(dry) if "-e \".[" in line)
    assert tool < package and "--spec \"torch==2.13.0\"" in dry[tool]
    assert not any("pip install" in line and "torch" in line for line in dry)
