"""A resumable results table: one CSV row per finished run, rewritten atomically after each row,
and its Markdown summary (mean +- std over seeds) with the protocol stamped in."""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from ..distributed import is_first_rank
from ..errors import InputError
from ..memory import COLLAPSED_SLOTS
from ..persist import atomic_write_text
from ..version import __version__


class ResultsTable:
    """Rows keyed by ``key`` columns; a row already in ``path`` is not recomputed.

    ``defaults``: values for key columns that tables written before the column existed lack
    (such rows are read as having that value)."""

    def __init__(
        self, path: str | Path, key: Sequence[str], defaults: dict[str, str] | None = None
    ) -> None:
        self.path = Path(path)
        self.key = tuple(key)
        self.rows: list[dict[str, str]] = []
        if self.path.exists():
            try:
                with open(self.path, newline="", encoding="utf-8") as fh:
                    rows = list(csv.DictReader(fh))
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise InputError(f"cannot resume from {self.path}: {exc}") from None
            missing = {k: v for k, v in (defaults or {}).items() if rows and k not in rows[0]}
            self.rows = [row | missing for row in rows]
            if self.rows and not set(self.key) <= set(self.rows[0]):
                raise InputError(f"{self.path} is not a results table of this benchmark")

    def _key(self, row: dict[str, Any]) -> tuple[str, ...]:
        return tuple(str(row[k]) for k in self.key)

    def done(self, **key: Any) -> bool:
        wanted = self._key(key)
        return any(self._key(r) == wanted for r in self.rows)

    def add(self, row: dict[str, Any]) -> None:
        text = {k: _fmt(v) for k, v in row.items()}
        self.rows = [r for r in self.rows if self._key(r) != self._key(text)] + [text]
        columns: list[str] = []
        for r in self.rows:
            columns += [c for c in r if c not in columns]
        if not is_first_rank():  # under torchrun, rank 0 writes
            return
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n", restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        atomic_write_text(self.path, buf.getvalue())

    def select(self, **match: Any) -> list[dict[str, str]]:
        return [r for r in self.rows if all(r.get(k) == str(v) for k, v in match.items())]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def whole_fits(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """The rows whose ``fit_s`` times the whole fit: none of its epochs came from a resumed
    training state (``resumed_epochs``; rows without the column never resumed)."""
    return [r for r in rows if r.get("resumed_epochs", "") in ("", "0")]


def mean_std(values: Sequence[float]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def seed_means(
    rows: list[dict[str, str]],
    classes: Sequence[str],
    metric: str = "auc",
    class_field: str = "class",
) -> dict[str, float]:
    """Seed -> the mean of ``metric`` over ``classes``, for each seed that has a row of every
    class (an incomplete seed is left out, not averaged over fewer classes)."""
    wanted = set(map(str, classes))
    by_seed: dict[str, dict[str, float]] = {}
    for r in rows:
        if r[class_field] in wanted:
            by_seed.setdefault(r["seed"], {})[r[class_field]] = float(r[metric])
    return {s: statistics.mean(v.values()) for s, v in sorted(by_seed.items()) if set(v) == wanted}


def per_class_markdown(
    rows: list[dict[str, str]],
    models: Sequence[str],
    classes: Sequence[str],
    metric: str = "auc",
    class_field: str = "class",
) -> str:
    """Models x classes: mean over seeds per class, then the mean over classes as
    mean ± std across seeds (each seed's class mean), and the number of seeds."""
    head = ["model", *classes, "mean", "seeds"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model in models:
        mine = [r for r in rows if r["model"] == model]
        if not mine:
            continue
        cells = []
        for c in classes:
            vals = [float(r[metric]) for r in mine if r[class_field] == str(c)]
            cells.append(f"{statistics.mean(vals):.4f}" if vals else "")
        means = list(seed_means(mine, classes, metric, class_field).values())
        lines.append(
            "| "
            + " | ".join([model, *cells, mean_std(means) or "(incomplete)", str(len(means))])
            + " |"
        )
    return "\n".join(lines)


def stamp(title: str, settings: dict[str, Any]) -> str:
    """The header of a results.md: what ran, how, with which version, when."""
    lines = [f"# {title}", "", f"memae {__version__}, {date.today().isoformat()}", ""]
    lines += [f"- **{k}**: {v}" for k, v in settings.items()]
    return "\n".join(lines) + "\n"


def ordered_models(rows: list[dict[str, str]], preferred: Sequence[str]) -> list[str]:
    """The models present in ``rows``: those of ``preferred`` in its order, then the others in
    order of appearance (so tables resumed with other --models list every model)."""
    present = {r["model"] for r in rows}
    out = [m for m in preferred if m in present]
    for r in rows:
        if r["model"] not in out:
            out.append(r["model"])
    return out


def memory_markdown(rows: list[dict[str, str]], models: list[str]) -> str:
    """The memory's addressing beside the AUCs: per model with a memory, the effective slots
    (exp of the slot-usage entropy; ~1 = one-slot collapse), mean and lowest over its rows, and
    the slots any query addressed. Rows written before the column existed are left out."""
    lines = []
    for spec in models:
        mine = [r for r in rows if r["model"] == spec and r.get("effective_slots")]
        if not mine:
            continue
        slots = [float(r["effective_slots"]) for r in mine]
        used = [float(r["slots_addressed"]) for r in mine]
        collapsed = sum(s < COLLAPSED_SLOTS for s in slots)
        lines.append(
            f"| {spec} | {statistics.mean(slots):.1f} | {min(slots):.1f} | "
            f"{statistics.mean(used):.0f} | {collapsed} of {len(mine)} |"
        )
    if not lines:
        return ""
    head = (
        "\n## Memory addressing (effective slots: exp of the entropy of the slot usage; "
        "below 2 = collapsed)\n\n| model | effective slots, mean | lowest | slots addressed | "
        "collapsed rows |\n|---|---|---|---|---|\n"
    )
    return head + "\n".join(lines) + "\n"
