"""Command line: ``python -m mmrec_lite.course {student,strip,run,header} ...``.

    student NOTEBOOK... --out DIR   write student versions (solutions replaced by stubs; the Colab
                                    badge opens DIR/<file> on --branch of --repository)
    strip NOTEBOOK... [--check]     strip outputs and execution counts in place (--check: only report)
    run [NOTEBOOK...]               execute with papermill (PROFILE="smoke"), print times, exit 1 on
                                    an error or a notebook over --max-seconds (0: no limit; with
                                    --warn-slow a slow notebook is flagged SLOW but does not fail)
    header NOTEBOOK                 print the Colab badge and the set-up cell a chapter must start with
    book-sources --executed DIR --out DIR
                                    copy the book's sources with the executed notebooks in place and
                                    execution off (make test renders them instead of re-running them)
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..colab import REPOSITORY_URL, colab_badge, setup_cell_source
from .outputs import is_stripped, strip_files
from .student import STUDENT_BRANCH, student_colab_url, write_student_notebooks


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mmrec_lite.course", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    student = commands.add_parser("student", help="write student versions of notebooks")
    student.add_argument("notebooks", nargs="+", type=Path)
    student.add_argument("--out", type=Path, default=Path("student"))
    student.add_argument("--repository", default=REPOSITORY_URL, help="GitHub repository the student set is pushed to")
    student.add_argument("--branch", default=STUDENT_BRANCH, help="its branch (default: %(default)s)")

    strip = commands.add_parser("strip", help="strip outputs and execution counts in place")
    strip.add_argument("notebooks", nargs="+", type=Path)
    strip.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook has outputs")

    run = commands.add_parser("run", help="execute notebooks with papermill and time them")
    run.add_argument("notebooks", nargs="*", type=Path)
    run.add_argument("--out", type=Path, default=Path("_build/executed"))
    run.add_argument("--profile", default="smoke")
    run.add_argument("--max-seconds", type=float, default=90.0)
    run.add_argument("--warn-slow", action="store_true", help="flag notebooks over --max-seconds without failing")

    header = commands.add_parser("header", help="print the badge and set-up cell for a chapter")
    header.add_argument("notebook", type=Path)

    book = commands.add_parser("book-sources", help="stage the book sources around the executed notebooks")
    book.add_argument("--root", type=Path, default=Path("."))
    book.add_argument("--executed", type=Path, default=Path("_build/executed"))
    book.add_argument("--out", type=Path, default=Path("_build/book-sources"))
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "student":
        for path in write_student_notebooks(args.notebooks, args.out, args.repository, args.branch):
            print(f"wrote {path}")
        print(f"Colab badges open {student_colab_url('<file>', args.repository, args.branch, args.out.resolve().name)}"
              " once the folder is pushed there (book/instructors.md)")
        return 0
    if args.command == "strip":
        return _strip(args.notebooks, args.check)
    if args.command == "run":
        from .runner import report, run_notebooks

        paths = args.notebooks or sorted(Path("notebooks").glob("*.ipynb"))
        if not paths:
            print("no notebooks to run")
            return 0
        runs = run_notebooks(paths, args.out, {"PROFILE": args.profile}, args.max_seconds)
        return report(runs, args.max_seconds, fail_on_slow=not args.warn_slow)
    if args.command == "book-sources":
        from .book import stage_executed_book

        staged, seconds = stage_executed_book(args.root, args.executed, args.out)
        print(f"{args.out}: {len(staged)} executed notebook(s) staged; the book renders their outputs instead "
              f"of executing them again, saving their {seconds:.0f} s of execution")
        return 0
    print(f"First cell (markdown), after the title:\n{colab_badge(args.notebook.name)}\n")
    print(f"Second cell (code):\n{setup_cell_source()}")
    return 0


def _strip(paths: list[Path], check_only: bool) -> int:
    import nbformat

    if check_only:
        dirty = [p for p in paths if not is_stripped(nbformat.read(p, as_version=4))]
        for path in dirty:
            print(f"{path}: has outputs; run python -m mmrec_lite.course strip {path}")
        return 1 if dirty else 0
    for path in strip_files(paths):
        print(f"stripped {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
