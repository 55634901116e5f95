"""Tables of the two related systems, built from the ordinary stage artifacts (no paper values to join):

- table_darts: the DARTS-P3D network searched on a dataset and retrained from scratch, beside the E3D and X3D
  models trained on the same data: params, GFLOPs per view, top-1/top-5 and what the search cost (the search
  jobs' Snakemake benchmarks; none for hand-designed models).
- table_sgs: each base model with and without Similarity Guided Sampling: mean GFLOPs per view (SGS: measured
  per view at its own B'), the spread of that cost, top-1/top-5, and the GFLOPs ratio to the base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from e3d.artifacts import read_json
from e3d.errors import E3DError
from e3d.tables.stage_rows import eval_rows, read_benchmark
from e3d.tables.write import table_provenance, write_table

Inputs = Mapping[str, Any]


class SystemsTableError(E3DError, ValueError):
    """An artifact the DARTS or SGS table needs is missing or lacks a field."""


DECIMALS = {"gflops": 4, "gflops_p05": 4, "gflops_p95": 4, "gflops_full": 4, "gflops_ratio": 3,
            "active_bins_mean": 2, "search_wall_h": 3, "search_cpu_h": 3, "search_seconds": 1}
UNITS = {"gflops_p05": "GFLOPs", "gflops_p95": "GFLOPs", "gflops_full": "GFLOPs", "search_wall_h": "h",
         "search_cpu_h": "h", "search_seconds": "s", "active_bins_mean": "frames"}

DARTS_CAPTION = ("DARTS-P3D on {dataset}: the cell searched on {dataset} (bilevel, TSN segments) and retrained from "
                 "scratch, beside the E3D and X3D models trained on the same data. GFLOPs per view (conv + linear "
                 "multiply-adds, fvcore); top-1/top-5 on the {split} split with {views} views; search cost = wall "
                 "and CPU hours of the search job (its Snakemake benchmark; E3D: the evolutionary search, "
                 "hand-designed models: none).")
SGS_CAPTION = ("Similarity Guided Sampling on {dataset}: each base model with and without one SGS layer. GFLOPs per "
               "view: the fixed count of the base; for SGS the mean over the {split} views of the cost at each "
               "view's own B' (fvcore on the shapes that flow), with its 5th/95th percentiles and the cost at "
               "B' = B (gflops_full). gflops_ratio = GFLOPs / the base's GFLOPs.")


def _eval_doc(path: str) -> dict[str, Any]:
    return read_json(path)


def _write(frame: pd.DataFrame, out: str, params: Mapping[str, Any], caption: str) -> None:
    extra = {k: v for k, v in params.items() if isinstance(v, (str, int, float, bool, list, dict))}
    write_table(frame, out, table_provenance(dict(params)), caption=caption, units=UNITS, decimals=DECIMALS,
                extra=extra)


def _split_views(paths: list[str]) -> dict[str, str]:
    doc = _eval_doc(paths[0])
    return {"split": str(doc.get("split", "val")), "views": str(doc.get("views", {}).get("name", ""))}


def table_darts(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    darts_evals = list(inputs.get("darts_evals", []))
    if not darts_evals:
        raise SystemsTableError("DARTS table: no evaluation of a retrained DARTS network (inputs darts_evals)")
    genotype = read_json(inputs["genotype"][0])
    search = genotype.get("search", {})
    bench = read_benchmark(inputs["darts_benchmark"][0])
    families = dict(params.get("families", {}))
    runs = dict(params.get("search_runs", {}))
    run_bench = {Path(p).name.removesuffix(".benchmark.tsv"): read_benchmark(p)
                 for p in inputs.get("search_benchmarks", [])}

    rows = []
    for frame, searched in ((eval_rows(darts_evals), True), (eval_rows(list(inputs.get("evals", []))), False)):
        for r in frame.to_dict("records"):
            row = {"model": r["model"], "family": families.get(r["model"], "DARTS-P3D" if searched else ""),
                   "frames": r["frames"], "crop_px": r["crop_px"], "params_m": r["params_m"], "gflops": r["gflops"],
                   "views": r["views"], "top1": r["top1"], "top5": r["top5"]}
            if searched:
                cost = bench
                row.update(search_method=f"DARTS ({search.get('order', '?')} order, {search.get('epochs', '?')} "
                                         f"epochs)", search_device=str(search.get("device", "")))
            else:
                run = runs.get(r["model"])
                if run is not None and run not in run_bench:
                    raise SystemsTableError(f"DARTS table: model {r['model']!r} comes from search run {run!r}, whose "
                                     f"benchmark file is not among the inputs")
                cost = run_bench.get(run) if run else None
                row.update(search_method=f"evolutionary (run {run})" if run else "hand-designed",
                           search_device="CPU" if run else "")
            row["search_wall_h"] = cost["wall_time_s"] / 3600.0 if cost else float("nan")
            row["search_cpu_h"] = cost["cpu_time_s"] / 3600.0 if cost else float("nan")
            rows.append(row)
    frame = pd.DataFrame(rows)
    meta = _split_views(darts_evals)
    dataset = str(params.get("dataset", Path(darts_evals[0]).parent.parent.name))
    _write(frame, out, {**params, "genotype": genotype.get("genotype", {}), "search": {
        k: search[k] for k in ("order", "epochs", "seconds", "device", "val_acc", "train_videos", "val_videos")
        if k in search}}, DARTS_CAPTION.format(dataset=dataset, **meta))


def _sgs_row(path: str, base_gflops: float | None) -> dict[str, Any]:
    r = eval_rows([path]).iloc[0].to_dict()
    doc = _eval_doc(path)
    s = doc.get("sgs")
    row = {"model": r["model"], "sgs": s is not None, "frames": r["frames"], "crop_px": r["crop_px"],
           "params_m": r["params_m"], "gflops": r["gflops"], "gflops_p05": float("nan"),
           "gflops_p95": float("nan"), "gflops_full": float("nan"), "active_bins_mean": float("nan"),
           "active_bins_histogram": "", "top1": r["top1"], "top5": r["top5"]}
    if s is not None:
        row.update(gflops_p05=float(s["gflops_p05"]), gflops_p95=float(s["gflops_p95"]),
                   gflops_full=float(s["gflops_full"]), active_bins_mean=float(s["active_bins_mean"]),
                   active_bins_histogram=" ".join(f"{k}:{v}" for k, v in s["active_bins_histogram"].items()))
    row["gflops_ratio"] = row["gflops"] / base_gflops if base_gflops else 1.0
    return row


def table_sgs(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    pairs = dict(params.get("pairs", {}))
    by_model = {Path(p).parent.name: p for p in [*inputs.get("base_evals", []), *inputs.get("sgs_evals", [])]}
    if not pairs:
        raise SystemsTableError("SGS table: no SGS models (params pairs)")
    rows = []
    for base in dict.fromkeys(pairs.values()):
        if base not in by_model:
            raise SystemsTableError(f"SGS table: no evaluation of base model {base!r} among the inputs")
        base_row = _sgs_row(by_model[base], None)
        if base_row["sgs"]:
            raise SystemsTableError(f"SGS table: base model {base!r} was evaluated with an SGS layer")
        rows.append({"base": base, **base_row})
        for model in [m for m, b in pairs.items() if b == base]:
            if model not in by_model:
                raise SystemsTableError(f"SGS table: no evaluation of SGS model {model!r} among the inputs")
            row = _sgs_row(by_model[model], base_row["gflops"])
            if not row["sgs"]:
                raise SystemsTableError(f"{by_model[model]}: evaluation has no SGS measurements (evaluated without "
                                 f"the layer, or by an older `e3d evaluate`?)")
            rows.append({"base": base, **row})
    frame = pd.DataFrame(rows)
    first = next(iter(by_model.values()))
    dataset = str(params.get("dataset", Path(first).parent.parent.name))
    _write(frame, out, params, SGS_CAPTION.format(dataset=dataset, **_split_views([first])))


BUILDERS = {"table_darts": table_darts, "table_sgs": table_sgs}
