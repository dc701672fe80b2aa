"""The benchmark scripts' one way to write their rows: a CSV under benchmarks/results/."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


def write_rows(path: Path, rows: list[dict[str, Any]], fields: list[str] | None = None) -> None:
    """``rows`` as a CSV at ``path`` (columns: ``fields``, or the first row's keys)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fields or list(rows[0]), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {path}")
