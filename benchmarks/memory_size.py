"""MemAE Figure 7 on UCSD Ped2 (`cpu` config): micro AUC against the memory size N, mean and
spread over seeds, from the tables ``benchmarks/ped2_studies.sh`` writes (issue #23).

    python benchmarks/memory_size.py RUNS/ped2_memory_size/results.csv \\
        RUNS/ped2_table4/results.csv --out benchmarks/results/ped2_memory_size

The N = 500 points are Table 4's ``memae`` rows (the config's N); the others are the
``memae:mem_slots=N`` rows. Writes OUT/figure7.csv (N, seeds, micro AUC mean, std, min, max,
and the mean effective slots: how many of the N the trained memory uses) and OUT/figure7.png.
"""

from __future__ import annotations

import argparse
import re
import statistics
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from csvout import write_rows  # noqa: E402

from memae.bench import video  # noqa: E402
from memae.bench.results import ResultsTable  # noqa: E402
from memae.errors import InputError  # noqa: E402

CONFIG_SLOTS: int = video.CONFIGS["cpu"]["mem_slots"]  # N of the plain `memae` rows


def slots(model: str) -> int | None:
    """``memae`` -> 500, ``memae:mem_slots=N`` -> N; other models -> None."""
    if model == "memae":
        return CONFIG_SLOTS
    found = re.fullmatch(r"memae:mem_slots=(\d+)", model)
    return int(found.group(1)) if found else None


def points(tables: list[Path], field: str = "micro_auc") -> dict[int, list[float]]:
    """N -> ``field`` of each seed (a seed counted once), from Ped2 `cpu` rows only."""
    by_n: dict[int, dict[str, float]] = {}
    for path in tables:
        for row in ResultsTable(path, video.KEY).select(dataset="ped2", config="cpu"):
            n = slots(row["model"])
            if n is not None:
                by_n.setdefault(n, {})[row["seed"]] = float(row[field])
    return {n: list(seeds.values()) for n, seeds in sorted(by_n.items())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tables", type=Path, nargs="+")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    try:
        data, effective = points(args.tables), points(args.tables, "effective_slots")
    except InputError as exc:  # an unreadable or foreign results table
        raise SystemExit(f"memory_size: {exc}") from None
    if not data:
        raise SystemExit("no memae rows in these tables yet")
    rows = [
        {
            "mem_slots": n,
            "seeds": len(v),
            "mean": f"{statistics.mean(v):.4f}",
            "std": f"{statistics.stdev(v):.4f}" if len(v) > 1 else "",
            "min": f"{min(v):.4f}",
            "max": f"{max(v):.4f}",
            "effective_slots": f"{statistics.mean(effective[n]):.1f}",
        }
        for n, v in data.items()
    ]
    write_rows(args.out / "figure7.csv", rows)
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ns = list(data)
    means = [statistics.mean(data[n]) for n in ns]
    ax.plot(ns, means, "o-", label="mean over seeds")
    ax.fill_between(ns, [min(data[n]) for n in ns], [max(data[n]) for n in ns], alpha=0.25,
                    label="min-max over seeds")  # fmt: skip
    ax.set_xscale("log")
    ax.minorticks_off()
    ax.set_xticks(ns, [str(n) for n in ns])
    ax.set_xlabel("memory size N")
    ax.set_ylabel("frame-level micro AUC")
    ax.set_title("UCSD Ped2, cpu config (MemAE Fig. 7)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "figure7.png", dpi=120)
    print(f"wrote {args.out / 'figure7.png'}")


if __name__ == "__main__":
    main()
