"""Compares two output folders of the same command run by two versions of memae: every
``scores/*.npy`` of a bench and every figure of a demo's ``results.json``, to the last bit.

    git worktree add /tmp/memae-old c18fabb
    PYTHONPATH=/tmp/memae-old/src OMP_NUM_THREADS=1 python -m memae.cli demo --out old_demo
    OMP_NUM_THREADS=1 python -m memae.cli demo --out new_demo
    python benchmarks/same_scores.py old_demo new_demo
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def compare(old: Path, new: Path) -> list[str]:
    """-> one line per compared item; each starts with 'same' or 'DIFFERENT'."""
    lines = []
    for a in sorted(old.glob("scores/*.npy")):
        b = new / "scores" / a.name
        same = b.exists() and np.array_equal(np.load(a), np.load(b))
        lines.append(f"{'same' if same else 'DIFFERENT'} {a.relative_to(old)}")
    if (old / "results.json").exists():
        a, b = (json.loads((d / "results.json").read_text()) for d in (old, new))
        for model in ("ae", "memae"):
            keys = ("auc", "average_precision", "threshold", "precision", "recall")
            same = all(a[model][k] == b[model][k] for k in keys)
            lines.append(
                f"{'same' if same else 'DIFFERENT'} results.json {model}: AUC {a[model]['auc']!r}"
                f" / {b[model]['auc']!r}, threshold {a[model]['threshold']!r}"
            )
    return lines


def main() -> int:
    old, new = (Path(p) for p in sys.argv[1:3])
    lines = compare(old, new)
    print("\n".join(lines) or "nothing to compare")
    return 0 if lines and all(line.startswith("same") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
