"""Artifacts of the Figure 3 study: the sampled-and-scored models (Parquet + one spec JSON per model, the input of
`e3d train --arch spec:FILE`), reading each model's accuracy from the evaluation's metrics JSON, and the
correlation table and figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd

from e3d.artifacts import Provenance, read_parquet, write_bytes_atomic, write_parquet
from e3d.baselines.correlation import StudyError

MODELS_SCHEMA = "e3d.fig3_models"
CORR_SCHEMA = "e3d.fig3_correlations"
CODE = ("__init__.py", "artifacts.py", "provenance.py", "baselines", "score", "arch", "search", "tables")


def write_models(scored: pd.DataFrame, out_dir: str | Path, config: dict) -> dict[str, Path]:
    out_dir = Path(out_dir)
    prov = Provenance.make(MODELS_SCHEMA, 1, config, CODE)
    paths = {"models": write_parquet(out_dir / "models.parquet", scored, prov)}
    for name, spec_json in zip(scored["model"], scored["spec_json"]):
        write_bytes_atomic(out_dir / "specs" / f"{name}.json", (json.dumps(json.loads(spec_json), indent=2,
                                                                           sort_keys=True) + "\n").encode())
    paths["specs"] = out_dir / "specs"
    return paths


def read_models(path: str | Path) -> pd.DataFrame:
    return read_parquet(path, schema=MODELS_SCHEMA, max_version=1)


def read_accuracy(pairs: Sequence[str], target: str = "top1") -> pd.DataFrame:
    """`MODEL=PATH` pairs; PATH is an evaluation metrics JSON holding `target` (a fraction or a percentage)."""
    rows = []
    for pair in pairs:
        name, sep, path = pair.partition("=")
        if not sep or not name or not path:
            raise StudyError(f"--accuracy {pair!r}: expected MODEL=PATH")
        p = Path(path)
        try:
            doc = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StudyError(f"{p}: cannot read the metrics JSON of model {name} ({exc})") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get(target), (int, float)):
            raise StudyError(f"{p}: no numeric {target!r} in the metrics of model {name}")
        rows.append({"model": name, target: float(doc[target])})
    return pd.DataFrame(rows)


def write_correlations(data: pd.DataFrame, corr: pd.DataFrame, out_dir: str | Path, config: dict,
                       target: str = "top1", figure: str | Path | None = None) -> dict[str, Path]:
    """Correlations (Parquet + CSV), one bar chart per method and the scatter under `out_dir`; with `figure`,
    Figure 3 itself there: every method side by side, the correlations as the CSV beside it."""
    from e3d.tables import figures

    out_dir = Path(out_dir)
    prov = Provenance.make(CORR_SCHEMA, 1, config, CODE)
    paths = {"correlations": write_parquet(out_dir / "fig3_correlations.parquet", corr, prov)}
    write_bytes_atomic(out_dir / "fig3_correlations.csv", corr.to_csv(index=False, lineterminator="\n").encode())
    fprov = figures.figure_provenance(config, ("tables", "baselines", "score"))
    for method, rows in corr.groupby("method", sort=False):
        out = figures.correlation_bars(rows, out_dir / f"fig3_{method}.png", provenance=fprov,
                                       caption=f"{method} correlation of each metric with {target}, "
                                               "with bootstrap intervals", extra={"config": config})
        paths[f"fig3_{method}"] = out["png"]
    metrics = [m for m in corr["metric"].drop_duplicates()]
    out = figures.accuracy_vs_scores(data, out_dir / "fig3_scatter.png", scores=metrics, accuracy=target,
                                     label="model", provenance=fprov, caption="accuracy against each metric",
                                     extra={"config": config})
    paths["scatter"] = out["png"]
    if figure is not None:
        out = figures.correlation_bars(corr, figure, provenance=fprov,
                                       caption=f"correlation of each metric with {target}, with bootstrap intervals",
                                       extra={"config": config, "models": len(data)})
        paths["figure"] = out["png"]
    return paths


def write_x3d_scaled(budget_gflops: float, resolution: int, frames: int, expand: str, name: str,
                     out: str | Path) -> dict:
    """Table 7's contracted X3D: its spec JSON (the input of `e3d train --arch spec:FILE`); returns what was chosen
    (the expansion factors, GFLOPs, params and layers at the input) for the log."""
    from e3d.arch.baselines import x3d_scaled
    from e3d.arch.cost import cost

    spec, factors = x3d_scaled(budget_gflops, resolution, frames, expand, name=name)
    c = cost(spec, resolution, frames)
    text = json.dumps(json.loads(spec.to_json()), indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(Path(out), text.encode())
    return {"spec": str(out), "expand": expand, **factors, "params": c.params, "layers": c.layers,
            "widths": [b.out for b in spec.blocks], "depths": [b.layers for b in spec.blocks]}
