"""Stage artifacts read as table rows, for every builder (e3d.tables.build, e3d.tables.systems): a trained model's
multi-view evaluation metrics and a Snakemake benchmark file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import pandas as pd

from e3d.artifacts import read_json
from e3d.errors import E3DError


class BuildError(E3DError, ValueError):
    """An artifact a table needs lacks a field, or a table has nothing to show."""


def _eval_row(path: str) -> dict[str, Any]:
    """One trained model's multi-view evaluation, as table columns."""
    doc = read_json(path)
    for key in ("top1", "top5", "gflops_per_view", "views", "frames", "crop", "params"):
        if key not in doc:
            raise BuildError(f"{path}: evaluation metrics lack {key!r} (written by an older `e3d evaluate`?)")
    p = Path(path)
    return {
        "model": p.parent.name,
        "dataset": p.parent.parent.name,
        "frames": int(doc["frames"]),
        "crop_px": int(doc["crop"]),
        "params_m": float(doc["params"]) / 1e6,
        "gflops": float(doc["gflops_per_view"]),
        "views": f"{doc['views']['crops']}x{doc['views']['clips']}",  # crops x clips, as Table 3's "x 3 x 10"
        "clips_x_crops": f"{doc['views']['clips']}x{doc['views']['crops']}",  # Table 2's "2x3" header
        "gflops_total": float(doc["gflops_total_per_video"]),
        "top1": 100.0 * float(doc["top1"]),
        "top5": 100.0 * float(doc["top5"]),
    }


def eval_rows(paths: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame([_eval_row(p) for p in paths])


def read_benchmark(path: str) -> dict[str, float]:
    """A Snakemake benchmark TSV: wall seconds (`s`) and CPU seconds (`cpu_time`) of the job."""
    try:
        frame = pd.read_csv(path, sep="\t")
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise BuildError(f"{path}: not a readable Snakemake benchmark file ({exc})") from exc
    missing = [c for c in ("s", "cpu_time") if c not in frame.columns]
    if missing or frame.empty:
        raise BuildError(f"{path}: benchmark file lacks column(s) {missing or ['(no rows)']}")
    last = frame.iloc[-1]  # with --benchmark-repeats the last repeat is the one whose outputs exist
    return {"wall_time_s": float(last["s"]), "cpu_time_s": float(last["cpu_time"])}


def seed_summary(evals: pd.DataFrame, groups: dict[str, list[str]], what: str) -> pd.DataFrame:
    """One row per group of models trained from one architecture with different training seeds ({group: models}):
    the static columns (frames, crop, params, GFLOPs, views) of its first model, top-1 and top-5 as the mean over
    the seeds, the top-1 range (min, max) and the number of seeds. Every model must have an evaluation."""
    if evals.empty:
        raise BuildError(f"{what}: no evaluations among the inputs")
    by_model = evals.set_index("model")
    rows = []
    for group, models in groups.items():
        missing = [m for m in models if m not in by_model.index]
        if missing:
            raise BuildError(f"{what}: no evaluation of model(s) {missing} (entrant {group!r}) among the inputs")
        part = by_model.loc[models]
        first = part.iloc[0]
        row = {"model": group, **{c: first[c] for c in part.columns if c not in ("top1", "top5")},
               "top1": float(part["top1"].mean()), "top1_min": float(part["top1"].min()),
               "top1_max": float(part["top1"].max()), "top5": float(part["top5"].mean()), "seeds": len(models)}
        rows.append(row)
    return pd.DataFrame(rows)


# Training top-1 points gained over the last fifth of the epochs (plateau_change) under which a model has stopped
# improving
PLATEAU_PP = 2.0


def training_top1(metrics_parquet: str) -> np.ndarray:
    """The training top-1 (%, on the training clips, augmented) of each epoch, in order."""
    from e3d.artifacts import read_parquet

    m = read_parquet(metrics_parquet)
    if "accuracy" not in m.columns or m.empty:
        raise BuildError(f"{metrics_parquet}: training metrics lack per-epoch accuracy")
    return 100.0 * m.sort_values("epoch")["accuracy"].to_numpy(dtype=float)


def plateau_change(acc: np.ndarray, fraction: float = 0.2) -> float:
    """How much a training top-1 curve (training_top1) moved over the last `fraction` of the epochs: the mean of
    that last stretch minus the mean of the stretch of equal length before it. Under PLATEAU_PP points reads as a
    plateau.

    Means, not two single epochs: one epoch's top-1 on 800 clips has a binomial standard deviation of about 1.5
    points, so the difference of two epochs (about 2.2) is as large as the threshold itself; the difference of two
    means of 10-19 epochs has 0.5-0.7."""
    span = max(1, int(round(fraction * len(acc))))
    if len(acc) < 2 * span:
        return float("nan")
    return float(acc[-span:].mean() - acc[-2 * span:-span].mean())
