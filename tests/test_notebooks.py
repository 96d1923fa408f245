"""The chapter notebooks follow the course template (book/instructors.md) and run in the smoke profile.

Structure tests run on every notebooks/*.ipynb: the Colab badge (first cell), the set-up cell
(second cell), exactly one ``parameters`` cell, the exercises with solutions and checks, and the
outputs policy (committed without outputs). Tests marked ``notebooks`` execute each chapter with
papermill, as ``make notebooks`` does; ``make test`` runs them through the same runner.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat
import pytest
import yaml

from mmrec_lite.course import is_stripped, make_student_notebook
from mmrec_lite.course.runner import run_notebook

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
REQUIRED_PARAMETERS = {"PROFILE", "DATASET", "SEED", "DEVICE"}

each_notebook = pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])


def load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def tags(cell) -> list[str]:
    return cell.metadata.get("tags", [])


def minimum_exercises(path: Path) -> int:
    return 4 if path.name.startswith("00_") else 3


def test_notebooks_folder_exists():
    assert NOTEBOOK_DIR.is_dir()


def test_every_notebook_is_in_the_table_of_contents():
    toc = (REPO / "_toc.yml").read_text()
    listed = set(re.findall(r"file:\s*(notebooks/[\w.-]+)", toc))
    assert {f"notebooks/{p.stem}" for p in NOTEBOOKS} <= listed


def test_book_pages_in_the_table_of_contents_exist():
    toc = (REPO / "_toc.yml").read_text()
    pages = re.findall(r"(?:root|file):\s*(book/[\w.-]+)", toc)
    assert pages and all((REPO / f"{page}.md").exists() for page in pages)


@each_notebook
def test_first_cell_has_the_colab_badge(path):
    repository = CONFIG["repository"]
    owner_and_name = repository["url"].removeprefix("https://github.com/")
    link = (f"{CONFIG['launch_buttons']['colab_url']}/github/{owner_and_name}/blob/{repository['branch']}"
            f"/notebooks/{path.name}")
    first = load(path).cells[0]
    assert first.cell_type == "markdown"
    assert f"]({link})" in first.source, f"the first cell needs the badge; `python -m mmrec_lite.course header {path.name}`"


@each_notebook
def test_second_cell_is_the_setup_cell(path):
    repository = CONFIG["repository"]
    setup = load(path).cells[1]
    assert setup.cell_type == "code"
    assert setup.source.startswith("# SETUP")
    assert '"google.colab" in sys.modules' in setup.source
    # the clip extra always, plus what the chapter needs (e.g. explain for LIME)
    assert re.search(rf'"mmrec_lite\[clip(,[a-z]+)*\] @ git\+{re.escape(repository["url"])}@{repository["branch"]}"',
                     setup.source)
    assert "environment_report()" in setup.source


@each_notebook
def test_exactly_one_parameters_cell_defining_the_run(path):
    cells = [c for c in load(path).cells if "parameters" in tags(c)]
    assert len(cells) == 1
    assigned = {target.id for node in ast.walk(ast.parse(cells[0].source)) if isinstance(node, ast.Assign)
                for target in node.targets if isinstance(target, ast.Name)}
    assert REQUIRED_PARAMETERS <= assigned, f"missing {sorted(REQUIRED_PARAMETERS - assigned)}"


@each_notebook
def test_exercises_have_solutions_and_checks(path):
    cells = load(path).cells
    assert any(re.search(r"^#+\s+Exercises", c.source, re.M) for c in cells if c.cell_type == "markdown")
    solutions = [i for i, c in enumerate(cells) if "solution" in tags(c)]
    assert len(solutions) >= minimum_exercises(path)
    for i in solutions:
        assert cells[i].cell_type == "code" and "hide-input" in tags(cells[i]), f"cell {i}: tag it hide-input too"
        following = cells[i + 1] if i + 1 < len(cells) else None
        assert following is not None and "check" in tags(following) and "check(" in following.source, \
            f"cell {i}: a solution is followed by a cell tagged check that calls check(...)"


@each_notebook
def test_student_version_has_a_stub_per_solution(path):
    nb = load(path)
    student = make_student_notebook(nb)
    stubs = [c for c in student.cells if "exercise" in tags(c)]
    assert len(stubs) == sum("solution" in tags(c) for c in nb.cells)
    assert not any("solution" in tags(c) for c in student.cells)
    for number, stub in enumerate(stubs, start=1):
        ast.parse(stub.source)
        assert f"Exercise {number}: write your solution here" in stub.source


@each_notebook
def test_outputs_are_stripped(path):
    assert is_stripped(load(path)), f"run: python -m mmrec_lite.course strip notebooks/{path.name}"


@each_notebook
def test_sources_hold_no_control_characters(path):
    """A lost backslash (``\\approx`` written in a plain Python string, where ``\\a`` is BEL) leaves a control character."""
    for index, cell in enumerate(load(path).cells):
        bad = re.findall(r"[\x00-\x08\x0b\x0c\x0e-\x1f]", cell.source)
        assert not bad, f"{path.name} cell {index}: control characters {bad!r}"


@pytest.mark.notebooks
@each_notebook
def test_runs_in_the_smoke_profile(path, tmp_path, monkeypatch):
    for name, value in {"MMREC_PROFILE": "smoke", "MMREC_OFFLINE": "1", "HF_HUB_OFFLINE": "1",
                        "TRANSFORMERS_OFFLINE": "1", "TQDM_DISABLE": "1"}.items():
        monkeypatch.setenv(name, value)
    run = run_notebook(path, tmp_path)
    assert run.error is None, run.error


RAW_IN_JUPYTER = re.compile(r"\{(cite|cite:p|cite:t|doc|ref|numref|eq|admonition|note|warning|tip|important)\}")


@each_notebook
def test_markdown_reads_well_outside_the_book(path):
    """MyST roles and directives show as raw text in Jupyter and Colab: notebooks use plain Markdown
    (author–year links for citations, relative links to book pages, block quotes for notes)."""
    offending = [cell.source[:80] for cell in load(path).cells
                 if cell.cell_type == "markdown" and RAW_IN_JUPYTER.search(cell.source)]
    assert not offending, f"{path.name}: MyST roles/directives in markdown cells: {offending[:3]}"
