"""The SymCERE chapter's recorded full-profile run: every row on every dataset, 3 seeds.

    MMREC_DATA=/path/to/data python benchmarks/symcere_full.py [--out DIR] [--parts table bias]

``table``: the per-dataset tables (mean ± std over seeds), the multi-dataset summary (relative
NDCG@10 improvement over the best other row); ``bias``: the popularity-bias measures of
:func:`~mmrec_lite.experiments_symcere.popularity_rows` per dataset over the same seeds. Prints
them and the wall time and writes them as CSV to ``--out``. Review encodings are cached under
``MMREC_CACHE``.
"""
from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from mmrec_lite.experiments import over_seeds
from mmrec_lite.experiments_symcere import compare_datasets, popularity_rows, prepare
from mmrec_lite.features.text import TextEncoder
from mmrec_lite.profiles import get_profile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("symcere_full"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--parts", nargs="+", choices=("table", "bias"), default=["table", "bias"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    hp = get_profile("full").for_chapter("symcere")
    start = time.perf_counter()
    args.out.mkdir(parents=True, exist_ok=True)
    if "table" in args.parts:
        comparison = compare_datasets(hp["datasets"], hp["seeds"], hp, profile="full", device=args.device)
        for name, result in comparison.results.items():
            print(f"\n== {name} (mean ± std over seeds {result.seeds})")
            print(result.table().to_string())
            result.runs.to_csv(args.out / f"runs_{name}.csv", index=False)
        print("\n== summary\n" + comparison.summary.to_string())
        comparison.summary.to_csv(args.out / "summary.csv")
    if "bias" in args.parts:
        encoder = TextEncoder(hp["text_model"], max_length=hp["text_max_length"])
        for name in hp["datasets"]:
            def run(seed: int, name=name):
                data, text = prepare(name, "full", seed, encoder, synthetic=hp["synthetic"],
                                     release=hp["releases"].get(name))
                return popularity_rows(data, text, hp, seed, args.device)[0]
            result = over_seeds(run, hp["seeds"])
            print(f"\n== popularity bias, {name} (mean ± std over seeds {result.seeds})")
            print(result.table().to_string())
            result.runs.to_csv(args.out / f"bias_{name}.csv", index=False)
    print(f"\n{time.perf_counter() - start:.0f} s on {platform.processor() or platform.machine()}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")


if __name__ == "__main__":
    main()
