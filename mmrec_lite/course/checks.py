"""Exercise checks: compare a student's answer with the reference and say so in plain words.

A check cell follows every exercise::

    check("Exercise 2", recall_at_k(scores, relevant, 5), expected=0.4)
    check("Exercise 3", my_bpr_loss, fn=losses.bpr_loss, cases=[(pos, neg), (pos * 2, neg)])

It prints ``✓ Exercise 2: correct`` or ``✗ Exercise 2: expected …, got … — hint: …`` and raises
``AssertionError`` when the answer is wrong, so that an instructor's notebook whose solution
breaks fails under papermill and in the book build. Numbers, NumPy arrays, torch tensors (any
object with ``.detach()``), dicts, lists and tuples are compared recursively; floats with
``|got - expected| <= atol + rtol * |expected|``.

A function that is still the student version's stub (it raises ``NotImplementedError``) gets the
✗ line with the hint too, not a traceback through this module: a failed check raises
:class:`CheckFailed` (an ``AssertionError``), which IPython and Jupyter display as the ✗ line
alone, and whose frames pytest hides. Any other exception of the student's function is raised as
it is, since its traceback points at the bug.
"""
from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["check", "CheckFailed"]


class CheckFailed(AssertionError):
    """A wrong or missing answer. IPython shows only the message (``_render_traceback_``)."""

    def _render_traceback_(self) -> list[str]:
        return [str(self)]


def check(name: str, value: Any, expected: Any = None, *, fn: Callable | None = None,
          cases: Sequence[Any] | None = None, atol: float = 1e-5, rtol: float = 1e-4,
          hint: str | None = None) -> None:
    """Compare ``value`` with ``expected`` — or, when ``fn`` is given, call the function ``value``
    and the reference ``fn`` on every case and compare their results.

    A case is a tuple of positional arguments, a dict of keyword arguments, or a single argument.
    ``hint`` is added to the message when the answer is wrong.
    """
    __tracebackhide__ = True  # pytest shows the test's line, not this function
    if fn is None:
        problem = _difference(value, expected, atol, rtol)
        shown_got, shown_want = value, expected
    else:
        if not callable(value):
            raise TypeError(f"{name}: check(..., fn=...) needs the student's function, got {type(value).__name__}")
        if not cases:
            raise ValueError(f"{name}: check(..., fn=...) needs at least one case to run")
        problem = shown_got = shown_want = None
        for number, case in enumerate(cases, start=1):
            try:
                got = _call(value, case)
            except NotImplementedError as stub:
                _fail(name, f"your function is still the stub ({stub})",
                      hint or "replace its `raise NotImplementedError(...)` line by your code, then run this cell again")
            want = _call(fn, case)
            problem = _difference(got, want, atol, rtol)
            if problem is not None:
                problem = f"on case {number}, {problem}"
                shown_got, shown_want = got, want
                break
    if problem is None:
        print(f"✓ {name}: correct")
        return
    advice = problem if hint is None else f"{problem}; {hint}"
    _fail(name, f"expected {_short(shown_want)}, got {_short(shown_got)}", advice)


def _fail(name: str, what: str, hint: str) -> None:
    """Print the ✗ line and raise it as :class:`CheckFailed` (with no chained traceback)."""
    __tracebackhide__ = True
    message = f"✗ {name}: {what} — hint: {hint}"
    print(message)
    raise CheckFailed(message) from None


def _call(function: Callable, case: Any) -> Any:
    if isinstance(case, tuple):
        return function(*case)
    if isinstance(case, Mapping):
        return function(**case)
    return function(case)


def _as_array(x: Any) -> Any:
    """Tensors become NumPy arrays; everything else is returned as it is."""
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return x


def _difference(got: Any, want: Any, atol: float, rtol: float, where: str = "") -> str | None:
    """None when ``got`` matches ``want``; otherwise one sentence saying where and how they differ."""
    got, want = _as_array(got), _as_array(want)
    at = f" at {where}" if where else ""
    if isinstance(want, np.ndarray) or isinstance(got, np.ndarray):
        return _array_difference(np.asarray(got), np.asarray(want), atol, rtol, at)
    if isinstance(want, Mapping):
        if not isinstance(got, Mapping):
            return f"a dict was expected{at}, not a {type(got).__name__}"
        missing, extra = sorted(map(str, want.keys() - got.keys())), sorted(map(str, got.keys() - want.keys()))
        if missing or extra:
            return f"keys differ{at}: missing {missing}, unexpected {extra}"
        for key in want:
            problem = _difference(got[key], want[key], atol, rtol, f"{where}[{key!r}]")
            if problem is not None:
                return problem
        return None
    if isinstance(want, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return f"a {type(want).__name__} was expected{at}, not a {type(got).__name__}"
        if len(got) != len(want):
            return f"length {len(got)} instead of {len(want)}{at}"
        for index, (g, w) in enumerate(zip(got, want)):
            problem = _difference(g, w, atol, rtol, f"{where}[{index}]")
            if problem is not None:
                return problem
        return None
    if isinstance(want, numbers.Number) and not isinstance(want, bool):
        if not isinstance(got, numbers.Number):
            return f"a number was expected{at}, not a {type(got).__name__}"
        if math.isnan(want) and math.isnan(got):
            return None
        if abs(got - want) <= atol + rtol * abs(want):
            return None
        return f"off by {abs(got - want):.3g}{at} (tolerance {atol + rtol * abs(want):.1g})"
    if got == want:
        return None
    return f"the values differ{at}"


def _array_difference(got: np.ndarray, want: np.ndarray, atol: float, rtol: float, at: str) -> str | None:
    if got.shape != want.shape:
        return f"shape {got.shape} instead of {want.shape}{at}"
    numeric = np.issubdtype(want.dtype, np.number) and np.issubdtype(got.dtype, np.number)
    if not numeric:
        wrong = got != want
        return None if not wrong.any() else f"{int(wrong.sum())} of {want.size} entries differ{at}"
    got, want = got.astype(np.float64), want.astype(np.float64)
    close = np.isclose(got, want, atol=atol, rtol=rtol, equal_nan=True)
    if close.all():
        return None
    worst = np.unravel_index(np.argmax(np.where(close, 0.0, np.abs(got - want))), want.shape)
    return (f"{int((~close).sum())} of {want.size} entries differ{at}; the largest gap is at index "
            f"{tuple(int(i) for i in worst)}: {got[worst]:.6g} instead of {want[worst]:.6g}")


def _short(x: Any, limit: int = 120) -> str:
    x = _as_array(x)
    text = np.array2string(x, threshold=8, precision=4) if isinstance(x, np.ndarray) else repr(x)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
