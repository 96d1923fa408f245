"""Student versions of the chapter notebooks: every solution becomes a stub to fill in.

A solution is a code cell tagged ``solution`` (and ``hide-input``, so the book folds it away);
the cell after it, tagged ``check``, calls :func:`mmrec_lite.course.check`. The student version
keeps everything else and replaces the n-th solution cell by:

- a first line ``# Exercise n: ...`` naming the exercise;
- the solution's top-level imports;
- each top-level function with its signature and docstring, its body replaced by
  ``raise NotImplementedError("Exercise n: write your solution here")``;
- for a solution without a function: that ``raise`` line on its own.

Running a student notebook therefore stops at the first exercise (inside the stub, or in the
check cell that calls it) until the student writes an answer.

The Colab badge of the chapter opens the instructor version (with the solutions); the student
version's badge opens the student copy instead, where the instructor publishes it: by default
``student/<file>`` on the branch ``student`` of the course repository (``book/instructors.md``).
"""
from __future__ import annotations

import ast
import copy
import re
from collections.abc import Iterable
from pathlib import Path

import nbformat

from ..colab import COLAB_URL, REPOSITORY_URL
from .outputs import strip_outputs

__all__ = ["SOLUTION_TAG", "CHECK_TAG", "EXERCISE_TAG", "STUDENT_BRANCH", "make_student_notebook", "stub_source",
           "student_colab_url", "write_student_notebooks"]

SOLUTION_TAG = "solution"
CHECK_TAG = "check"
EXERCISE_TAG = "exercise"
STUDENT_BRANCH = "student"
_COLAB_LINK = re.compile(r"\(" + re.escape(COLAB_URL) + r"/github/[^)\s]+\.ipynb\)")


def student_colab_url(notebook: str, repository: str = REPOSITORY_URL, branch: str = STUDENT_BRANCH,
                      folder: str = "student") -> str:
    """The Colab address of the published student copy ``<folder>/<notebook>`` on ``branch``."""
    owner_and_name = repository.rstrip("/").removeprefix("https://github.com/")
    return f"{COLAB_URL}/github/{owner_and_name}/blob/{branch}/{folder.strip('/')}/{notebook}"


def stub_source(solution: str, exercise: int) -> str:
    """The stub that replaces the source of solution cell number ``exercise``."""
    tree = ast.parse(solution)
    todo = ast.Raise(exc=ast.Call(func=ast.Name("NotImplementedError"),
                                  args=[ast.Constant(f"Exercise {exercise}: write your solution here")],
                                  keywords=[]))
    kept: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            kept.append(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            docstring = ast.get_docstring(node, clean=False)
            node.body = ([ast.Expr(ast.Constant(docstring))] if docstring is not None else []) + [todo]
            kept.append(node)
    has_function = any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) for node in kept)
    if not has_function:
        kept.append(todo)
    module = ast.fix_missing_locations(ast.Module(body=kept, type_ignores=[]))
    header = (f"# Exercise {exercise}: complete the function(s) below, then run the check cell."
              if has_function else f"# Exercise {exercise}: replace the line below with your solution.")
    return f"{header}\n{ast.unparse(module)}"


def make_student_notebook(nb: nbformat.NotebookNode, colab_url: str | None = None) -> nbformat.NotebookNode:
    """A copy of ``nb`` with outputs stripped and every ``solution`` cell replaced by its stub;
    with ``colab_url``, every Colab link of its Markdown cells (the badge) points there."""
    student = strip_outputs(copy.deepcopy(nb))
    exercise = 0
    for index, cell in enumerate(student.cells):
        tags = cell.metadata.get("tags", [])
        if cell.cell_type == "markdown" and colab_url is not None:
            cell.source = _COLAB_LINK.sub(f"({colab_url})", cell.source)
        if cell.cell_type != "code" or SOLUTION_TAG not in tags:
            continue
        exercise += 1
        student.cells[index] = nbformat.v4.new_code_cell(
            source=stub_source(cell.source, exercise), metadata={"tags": [EXERCISE_TAG]})
    return student


def write_student_notebooks(paths: Iterable[str | Path], out_dir: str | Path, repository: str = REPOSITORY_URL,
                            branch: str = STUDENT_BRANCH) -> list[Path]:
    """Write the student version of each notebook into ``out_dir`` (same file names), its badge
    opening ``<out_dir name>/<file>`` on ``branch`` of ``repository`` in Colab."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in map(Path, paths):
        target = out_dir / path.name
        url = student_colab_url(path.name, repository, branch, out_dir.resolve().name)
        nbformat.write(make_student_notebook(nbformat.read(path, as_version=4), url), target)
        written.append(target)
    return written
