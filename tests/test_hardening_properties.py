"""Property-based tests (hypothesis) of the loaders' shared machinery: typed table reading, dense
ids, the int64 rule and the JSON-lines reader, each against a plain-Python reference."""
from __future__ import annotations

import csv
import gzip
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmrec_lite.data import DataError, from_dataframe
from mmrec_lite.data.amazon import read_json_lines
from mmrec_lite.data.frame import TableSource
from mmrec_lite.data.safe_io import INT64_LIMIT, int64_values

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
int64s = st.integers(-INT64_LIMIT, INT64_LIMIT - 1)


@SETTINGS
@given(rows=st.lists(st.tuples(int64s, int64s, st.floats(-1e6, 1e6, allow_nan=False)), min_size=1, max_size=30),
       bom=st.booleans())
def test_table_source_reads_back_what_was_written(tmp_path_factory, rows, bom):
    path = tmp_path_factory.mktemp("t") / "table.tsv"
    text = "a\tb\tc\n" + "".join(f"{a}\t{b}\t{c!r}\n" for a, b, c in rows)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode())
    frame = TableSource(path, sep="\t", quoting=csv.QUOTE_NONE).read({"a": "int64", "b": "int64", "c": "float64"})
    assert frame["a"].tolist() == [r[0] for r in rows] and frame["b"].tolist() == [r[1] for r in rows]
    assert frame["c"].tolist() == [r[2] for r in rows]


@SETTINGS
@given(rows=st.lists(int64s, min_size=1, max_size=20), bad=st.integers(INT64_LIMIT, 2 ** 80), at=st.integers(0, 20))
def test_an_out_of_range_integer_is_named_by_its_line(tmp_path_factory, rows, bad, at):
    at = min(at, len(rows))
    values = rows[:at] + [bad] + rows[at:]
    path = tmp_path_factory.mktemp("t") / "table.csv"
    path.write_text("a\n" + "".join(f"{v}\n" for v in values))
    with pytest.raises(DataError, match=rf"table.csv, line {at + 2}: field 'a' does not fit in 64 bits"):
        TableSource(path).read({"a": "int64"})


@SETTINGS
@given(values=st.lists(st.one_of(st.floats(allow_nan=True, allow_infinity=True), int64s.map(float)), min_size=1))
def test_int64_values_accepts_exactly_the_whole_numbers_in_range(values):
    def ok(x: float) -> bool:
        return np.isfinite(x) and float(x).is_integer() and -INT64_LIMIT <= x < INT64_LIMIT
    if all(ok(x) for x in values):
        assert int64_values(np.array(values), "t", str).tolist() == [int(x) for x in values]
    else:
        first = next(i for i, x in enumerate(values) if not ok(x))
        with pytest.raises(DataError, match=rf"^{first}: field 't'"):
            int64_values(np.array(values), "t", str)


ids = st.one_of(st.lists(st.integers(-5, 10 ** 12), min_size=1, max_size=40),
                st.lists(st.text("abcxyz", min_size=1, max_size=3), min_size=1, max_size=40))


@SETTINGS
@given(users=ids, items=ids, data=st.data())
def test_from_dataframe_dense_ids_map_back_to_raw_ids(users, items, data):
    n = min(len(users), len(items))
    ratings = data.draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    frame = pd.DataFrame({"user": users[:n], "item": items[:n], "rating": ratings})
    out = from_dataframe(frame, rating="rating", duplicates="keep-last")
    reference = {}
    for u, i, r in zip(users[:n], items[:n], ratings):
        reference[(u, i)] = r                                      # keep-last
    assert out.user_ids.tolist() == sorted(set(users[:n])) and out.item_ids.tolist() == sorted(set(items[:n]))
    got = {(out.user_ids[u].item() if hasattr(out.user_ids[u], "item") else out.user_ids[u],
            out.item_ids[i].item() if hasattr(out.item_ids[i], "item") else out.item_ids[i]): r
           for u, i, r in zip(out.interactions.user.tolist(), out.interactions.item.tolist(),
                              out.interactions.rating.tolist())}
    assert got == {k: float(v) for k, v in reference.items()}


records = st.lists(st.fixed_dictionaries({"reviewerID": st.text(min_size=1, max_size=5),
                                          "overall": st.floats(1, 5, allow_nan=False),
                                          "note": st.recursive(st.none() | st.integers() | st.text(max_size=4),
                                                               lambda c: st.lists(c, max_size=3), max_leaves=6)}),
                   min_size=1, max_size=15)


@SETTINGS
@given(rows=records, blanks=st.lists(st.integers(0, 15), max_size=4), bom=st.booleans())
def test_json_lines_round_trip_with_line_numbers(tmp_path_factory, rows, blanks, bom):
    lines = [json.dumps(r) for r in rows]
    for position in sorted(blanks, reverse=True):
        lines.insert(min(position, len(lines)), "")
    path = tmp_path_factory.mktemp("j") / "r.json.gz"
    with gzip.open(path, "wb") as handle:
        handle.write((b"\xef\xbb\xbf" if bom else b"") + ("\n".join(lines) + "\n").encode())
    got, numbers = read_json_lines(path)
    assert got == rows
    assert numbers == [k + 1 for k, line in enumerate(lines) if line.strip()]
