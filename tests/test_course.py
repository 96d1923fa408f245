"""Course tooling: check() verdicts, student notebooks, the outputs policy, the notebook runner."""
from __future__ import annotations

import platform

import nbformat
import numpy as np
import pytest
import torch
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from mmrec_lite import colab
from mmrec_lite.course import check, is_stripped, make_student_notebook, strip_outputs
from mmrec_lite.course.__main__ import main
from mmrec_lite.course.checks import CheckFailed
from mmrec_lite.course.student import student_colab_url
from mmrec_lite.course.runner import run_notebook

SOLUTION_1 = '''import math

def squares(n: int) -> list[int]:
    """The squares of 0 .. n-1."""
    values = [i * i for i in range(n)]
    return values'''
SOLUTION_2 = "total = sum(squares(4)) + math.floor(0.5)"


def tiny_course_notebook() -> nbformat.NotebookNode:
    """Two exercises: one with a function to write, one without; each followed by its check."""
    cell = nbformat.v4.new_code_cell
    return nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(f"# Tiny chapter\n\n{colab.colab_badge('chapter.ipynb')}\n\n## Exercises"),
        cell("from mmrec_lite.course import check"),
        cell(SOLUTION_1, metadata={"tags": ["solution", "hide-input"]}),
        cell('check("Exercise 1", squares, fn=lambda n: [i ** 2 for i in range(n)], cases=[0, 3, 5])',
             metadata={"tags": ["check"]}),
        cell(SOLUTION_2, metadata={"tags": ["solution", "hide-input"]}),
        cell('check("Exercise 2", total, expected=14)', metadata={"tags": ["check"]}),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})


def execute(nb: nbformat.NotebookNode, tmp_path) -> tuple[int | None, str | None, str | None]:
    """Run ``nb`` in a python3 kernel; return (index, ename, evalue) of the failing cell, or Nones."""
    try:
        NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    except CellExecutionError:
        pass
    for index, cell in enumerate(nb.cells):
        for output in cell.get("outputs", []):
            if output.output_type == "error":
                return index, output.ename, output.evalue
    return None, None, None


def printed(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)


# ---------------------------------------------------------------- check()

def test_check_accepts_right_answers(capsys):
    check("Exercise 1", 0.1 + 0.2, expected=0.3)
    check("Exercise 2", torch.tensor([1.0, 2.0]), expected=np.array([1.0, 2.0 + 1e-7]))
    check("Exercise 3", {"recall": 0.5, "items": [1, 2]}, expected={"items": (1, 2), "recall": 0.5})
    check("Exercise 4", lambda x, y: x * y, fn=lambda x, y: y * x, cases=[(2, 3), {"x": 1.5, "y": 2}])
    assert capsys.readouterr().out.splitlines() == [f"✓ Exercise {n}: correct" for n in (1, 2, 3, 4)]


@pytest.mark.parametrize("value, expected, reason", [
    (0.31, 0.3, "off by 0.01"),
    (torch.ones(2, 3), np.ones((3, 2)), "shape (2, 3) instead of (3, 2)"),
    (np.array([1.0, 2.0, 5.0]), np.array([1.0, 2.0, 3.0]), "1 of 3 entries differ; the largest gap is at index (2,): 5 instead of 3"),
    ({"recall": 0.5}, {"recall": 0.5, "ndcg": 0.2}, "keys differ: missing ['ndcg'], unexpected []"),
    ({"recall": 0.4}, {"recall": 0.5}, "off by 0.1 at ['recall']"),
    ([1, 2], [1, 2, 3], "length 2 instead of 3"),
    ("0.3", 0.3, "a number was expected, not a str"),
])
def test_check_rejects_wrong_answers_with_a_reason(capsys, value, expected, reason):
    with pytest.raises(AssertionError) as raised:
        check("Exercise 2", value, expected=expected, hint="look at the denominator")
    message = str(raised.value)
    assert message.startswith("✗ Exercise 2: expected ")
    assert f"— hint: {reason}" in message and message.endswith("; look at the denominator")
    assert capsys.readouterr().out.strip() == message


def test_check_names_the_failing_case():
    with pytest.raises(AssertionError, match=r"expected 9, got 6 — hint: on case 2, off by 3"):
        check("Exercise 3", lambda n: n * 2, fn=lambda n: n ** 2, cases=[2, 3])


def test_check_reports_a_stub_as_unsolved_and_lets_other_exceptions_through(capsys):
    def stub(n):
        raise NotImplementedError("Exercise 3: write your solution here")

    def buggy(n):
        return n / 0

    expected = ("✗ Exercise 3: your function is still the stub (Exercise 3: write your solution here) — hint: "
                "replace its `raise NotImplementedError(...)` line by your code, then run this cell again")
    with pytest.raises(CheckFailed) as failure:
        check("Exercise 3", stub, fn=abs, cases=[1])
    assert str(failure.value) == expected and capsys.readouterr().out == expected + "\n"
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    assert failure.value._render_traceback_() == [expected]   # what IPython shows instead of a traceback
    with pytest.raises(CheckFailed, match="— hint: look at the loop"):
        check("Exercise 3", stub, fn=abs, cases=[1], hint="look at the loop")
    with pytest.raises(ZeroDivisionError):
        check("Exercise 3", buggy, fn=abs, cases=[1])
    with pytest.raises(ValueError, match="at least one case"):
        check("Exercise 3", abs, fn=abs)


# ---------------------------------------------------------------- student notebooks

def test_student_version_replaces_solutions_by_stubs():
    nb = tiny_course_notebook()
    student = make_student_notebook(nb)
    sources = [c.source for c in student.cells]
    text = "\n".join(sources)
    for solution_line in ("values = [i * i for i in range(n)]", "return values", "total = sum(squares(4))"):
        assert solution_line not in text
    assert sources[2].splitlines() == [
        "# Exercise 1: complete the function(s) below, then run the check cell.",
        "import math",
        "",
        "def squares(n: int) -> list[int]:",
        '    """The squares of 0 .. n-1."""',
        "    raise NotImplementedError('Exercise 1: write your solution here')",
    ]
    assert sources[4].splitlines() == [
        "# Exercise 2: replace the line below with your solution.",
        "raise NotImplementedError('Exercise 2: write your solution here')",
    ]
    assert [c.metadata.get("tags") for c in student.cells] == [None, None, ["exercise"], ["check"], ["exercise"], ["check"]]
    assert sources[3] == nb.cells[3].source and sources[5] == nb.cells[5].source
    assert nb.cells[2].source == SOLUTION_1, "the instructor notebook must not change"


def test_student_notebook_stops_at_the_first_exercise_and_instructor_notebook_passes(tmp_path):
    instructor = tiny_course_notebook()
    assert execute(instructor, tmp_path) == (None, None, None)
    assert "✓ Exercise 1: correct\n" in printed(instructor) and "✓ Exercise 2: correct\n" in printed(instructor)

    student = make_student_notebook(tiny_course_notebook())
    index, ename, evalue = execute(student, tmp_path)
    assert (index, ename) == (3, "CheckFailed")
    assert evalue.startswith("✗ Exercise 1: your function is still the stub (Exercise 1: write your solution here)")
    error = next(o for o in student.cells[3].outputs if o.output_type == "error")
    assert error.traceback == [evalue], "the ✗ line, not a traceback through checks.py"
    assert not student.cells[4].outputs, "nothing after the first failing cell runs"


def test_student_badge_opens_the_student_copy(tmp_path):
    path = tmp_path / "chapter.ipynb"
    nbformat.write(tiny_course_notebook(), path)
    assert main(["student", str(path), "--out", str(tmp_path / "handout"),
                 "--repository", "https://github.com/teacher/course-fork", "--branch", "spring"]) == 0
    badge = nbformat.read(tmp_path / "handout" / "chapter.ipynb", as_version=4).cells[0].source
    assert ("(https://colab.research.google.com/github/teacher/course-fork/blob/spring/handout/chapter.ipynb)"
            in badge)
    assert colab.colab_url("chapter.ipynb") not in badge
    default = make_student_notebook(tiny_course_notebook(), student_colab_url("chapter.ipynb")).cells[0].source
    owner_and_name = colab.REPOSITORY_URL.removeprefix("https://github.com/")
    assert f"/github/{owner_and_name}/blob/student/student/chapter.ipynb)" in default
    assert make_student_notebook(tiny_course_notebook()).cells[0].source == tiny_course_notebook().cells[0].source


def test_cli_writes_student_notebooks_and_strips(tmp_path, capsys):
    path = tmp_path / "chapter.ipynb"
    nb = tiny_course_notebook()
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="hello")]
    nb.cells[1].execution_count = 3
    nbformat.write(nb, path)

    assert main(["strip", str(path), "--check"]) == 1
    assert main(["student", str(path), "--out", str(tmp_path / "student")]) == 0
    written = nbformat.read(tmp_path / "student" / "chapter.ipynb", as_version=4)
    assert is_stripped(written) and not any("solution" in c.metadata.get("tags", []) for c in written.cells)

    assert main(["strip", str(path)]) == 0
    assert main(["strip", str(path), "--check"]) == 0
    assert is_stripped(nbformat.read(path, as_version=4))
    assert f"stripped {path}" in capsys.readouterr().out


def test_strip_outputs_clears_outputs_counts_and_run_metadata():
    nb = tiny_course_notebook()
    nb.metadata["papermill"] = {"duration": 1.0}
    nb.cells[1].execution_count = 1
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="x")]
    nb.cells[1].metadata["execution"] = {"iopub.status.idle": "now"}
    assert not is_stripped(nb)
    strip_outputs(nb)
    assert is_stripped(nb)
    assert "papermill" not in nb.metadata and "execution" not in nb.cells[1].metadata
    assert nb.cells[2].metadata["tags"] == ["solution", "hide-input"]


# ---------------------------------------------------------------- runner

def test_runner_injects_the_profile_runs_in_the_notebook_folder_and_reports_errors(tmp_path, capfd):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    cell = nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(cells=[
        cell('PROFILE = "full"', metadata={"tags": ["parameters"]}),
        cell(f'import os\nassert PROFILE == "smoke", PROFILE\nassert os.getcwd() == {str(folder)!r}, os.getcwd()\n'
             'assert os.environ["TQDM_DISABLE"]'),
        cell('raise ValueError("broken on purpose")'),
    ], metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, folder / "demo.ipynb")

    run = run_notebook(folder / "demo.ipynb", tmp_path / "executed")
    assert run.error is not None and run.error.endswith("ValueError: broken on purpose")
    if platform.system() != "Windows":  # IPC sockets: no "running over TCP without encryption" warning
        assert "without encryption" not in capfd.readouterr().err
    assert run.output == tmp_path / "executed" / "demo.ipynb" and run.output.exists()
    assert run.seconds > 0
    assert is_stripped(nbformat.read(folder / "demo.ipynb", as_version=4)), "the source notebook is untouched"


# ---------------------------------------------------------------- Colab set-up cell and report

def test_setup_cell_installs_from_the_repository_only_in_colab():
    source = colab.setup_cell_source()
    assert source.splitlines()[0].startswith("# SETUP")
    assert f'"{colab.install_spec()}"' in source
    namespace = {}
    exec(compile(source.replace("environment_report()", "reported = True"), "<setup>", "exec"), namespace)
    assert namespace["reported"] and "subprocess" in namespace, "outside Colab the cell installs nothing"


def test_colab_badge_links_the_notebook():
    assert colab.colab_badge("02_scale.ipynb").endswith(
        f"(https://colab.research.google.com/github/{colab.REPOSITORY_URL.removeprefix('https://github.com/')}"
        "/blob/main/notebooks/02_scale.ipynb)")


def test_environment_report_names_the_profile_source(monkeypatch, capsys):
    monkeypatch.delenv("MMREC_PROFILE", raising=False)
    assert colab.environment_info("full")["profile"] == "full"
    assert colab.environment_info()["profile"].startswith("set by the parameters cell")
    monkeypatch.setenv("MMREC_PROFILE", "smoke")
    assert colab.environment_info("full")["profile"] == "smoke (from MMREC_PROFILE)"
    colab.environment_report()
    printed = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert list(printed) == list(colab.environment_info())
    assert printed["profile"] == "smoke (from MMREC_PROFILE)"
    assert printed["python"] == platform.python_version()


def test_runner_report_fails_on_errors_and_on_slow_runs_only_when_strict(tmp_path, capsys):
    from mmrec_lite.course.runner import NotebookRun, report

    fast = NotebookRun(tmp_path / "a.ipynb", tmp_path / "out" / "a.ipynb", 3.0, None)
    slow = NotebookRun(tmp_path / "b.ipynb", tmp_path / "out" / "b.ipynb", 120.0, None)
    broken = NotebookRun(tmp_path / "c.ipynb", tmp_path / "out" / "c.ipynb", 1.0, "ValueError: boom")
    assert report([fast, slow], 90.0) == 1
    assert report([fast, slow], 90.0, fail_on_slow=False) == 0
    assert report([fast, broken], 90.0, fail_on_slow=False) == 1
    assert "1 over budget" in capsys.readouterr().out


def test_book_sources_render_the_executed_notebooks(tmp_path, capsys):
    root, executed = tmp_path / "repo", tmp_path / "executed"
    (root / "book").mkdir(parents=True)
    (root / "notebooks").mkdir()
    executed.mkdir()
    (root / "_config.yml").write_text("execute:\n  execute_notebooks: force\n  timeout: 300\n")
    (root / "_toc.yml").write_text("root: book/intro\n")
    (root / "book" / "intro.md").write_text("# Intro\n")
    nbformat.write(tiny_course_notebook(), root / "notebooks" / "chapter.ipynb")
    ran = tiny_course_notebook()
    ran.cells.insert(1, nbformat.v4.new_code_cell('PROFILE = "smoke"', metadata={"tags": ["injected-parameters"]}))
    ran.cells[2].outputs = [nbformat.v4.new_output("stream", text="ran")]
    ran.metadata["papermill"] = {"duration": 12.5}
    nbformat.write(ran, executed / "chapter.ipynb")

    out = tmp_path / "staged"
    assert main(["book-sources", "--root", str(root), "--executed", str(executed), "--out", str(out)]) == 0
    assert "saving their 12 s of execution" in capsys.readouterr().out
    staged = nbformat.read(out / "notebooks" / "chapter.ipynb", as_version=4)
    assert [c.source for c in staged.cells] == [c.source for c in tiny_course_notebook().cells]
    assert staged.cells[1].outputs[0].text == "ran" and "papermill" not in staged.metadata
    assert 'execute_notebooks: "off"' in (out / "_config.yml").read_text()
    assert "timeout: 300" in (out / "_config.yml").read_text()
    assert (out / "book" / "intro.md").read_text() == "# Intro\n" and (out / "_toc.yml").exists()

    (executed / "chapter.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="no executed copy"):
        main(["book-sources", "--root", str(root), "--executed", str(executed), "--out", str(out)])
