"""Book sources that render the notebooks papermill already executed, instead of running them again.

``make test`` runs every chapter with papermill (into ``_build/executed/``), re-runs those copies
under nbval, then builds the book. With ``execute_notebooks: force`` the book build would execute
every chapter a third time; :func:`stage_executed_book` writes a copy of the book's sources
(``_config.yml``, ``_toc.yml``, ``book/``, ``notebooks/``) in which

- each notebook is its executed copy, without papermill's ``injected-parameters`` cell (it only
  repeats the smoke profile's values) and papermill's run metadata;
- ``_config.yml`` says ``execute_notebooks: "off"``, so the build renders the stored outputs.

``make book`` still executes the committed notebooks itself (``force``), and the staged build runs
with the same ``-W -n --keep-going``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

__all__ = ["stage_executed_book"]

SOURCES = ("_config.yml", "_toc.yml", "book", "notebooks")
_EXECUTE = "execute_notebooks: force"
_RENDER = 'execute_notebooks: "off"   # rendered from the papermill-executed copies (mmrec_lite.course.book)'


def stage_executed_book(root: str | Path, executed: str | Path, out: str | Path) -> tuple[list[Path], float]:
    """Write the book sources of ``root`` into ``out`` with the notebooks taken from ``executed``.

    Returns the staged notebooks and the seconds papermill spent executing them (what the book
    build no longer spends). Raises ``FileNotFoundError`` naming a notebook without an executed
    copy, and ``ValueError`` when ``_config.yml`` does not say ``execute_notebooks: force``.
    """
    root, executed, out = Path(root), Path(executed), Path(out)
    config = (root / "_config.yml").read_text()
    if _EXECUTE not in config:
        raise ValueError(f"{root / '_config.yml'}: expected the line '{_EXECUTE}' to switch it off")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in SOURCES:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, out / name, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
        else:
            shutil.copy2(source, out / name)
    (out / "_config.yml").write_text(config.replace(_EXECUTE, _RENDER))
    staged, seconds = [], 0.0
    for target in sorted((out / "notebooks").glob("*.ipynb")):
        run = executed / target.name
        if not run.exists():
            raise FileNotFoundError(f"{run}: no executed copy of {root / 'notebooks' / target.name} "
                                    "(run `make notebooks` first)")
        nb = nbformat.read(run, as_version=4)
        seconds += float(nb.metadata.get("papermill", {}).get("duration") or 0.0)
        nb.cells = [c for c in nb.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        nb.metadata.pop("papermill", None)
        for cell in nb.cells:
            cell.metadata.pop("papermill", None)
        nbformat.write(nb, target)
        staged.append(target)
    return staged, seconds
