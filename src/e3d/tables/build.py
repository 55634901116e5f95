"""Builders: stage artifacts (evaluation metrics, search outputs, Snakemake benchmark files, profiles) -> our rows,
beside the paper's, written as a table (CSV + Parquet + HTML + meta) or a figure (PNG + CSV + meta).

Every builder takes `inputs` (name -> list of artifact paths, as the rule passes them), `params` (the rule's
settings, also quoted by the captions) and the output path. Model names come from the artifact paths'
`{model}` directory (work/eval/{dataset}/{model}/multiview.metrics.json), so a row is named as in the config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from e3d.artifacts import read_json, read_parquet
from e3d.tables import figures, systems
from e3d.tables.compare import compare_with_paper
from e3d.tables.paper import load_paper_table, paper_table_meta
from e3d.tables.stage_rows import (BuildError, eval_rows, plateau_change, read_benchmark, seed_summary,
                                   training_top1)
from e3d.tables.write import table_provenance, write_table

Inputs = Mapping[str, Sequence[str]]


def _require_rows(frame: pd.DataFrame, what: str) -> None:
    if frame.empty:
        raise BuildError(f"{what}: no rows of ours (check the config: nothing trained or searched for it)")


def _kernel_space(kernels: Any) -> str | None:
    """The search space as the paper prints it: "1x3x3,1x5x5,3x3x3" (search configs store a list or a string)."""
    if kernels is None:
        return None
    if isinstance(kernels, str):
        return kernels.replace(" ", "")
    return ",".join("x".join(str(k) for k in kern) if isinstance(kern, (list, tuple)) else str(kern) for kern in kernels)


def _search_summary(path: str) -> dict[str, Any]:
    doc = read_json(path)
    p = Path(path)
    s = doc.get("summary", {})
    cfg = doc.get("search", {})
    return {"run": p.parent.name, "score_kind": s.get("score_kind", cfg.get("score")),
            "kernel_space": _kernel_space(cfg.get("kernels")), "best_score": s.get("best_score"),
            "search_gflops": s.get("best_gflops"), "search_seconds": s.get("seconds"),
            "iterations": s.get("iterations"), "population": cfg.get("population")}


def _run_models(params: Mapping[str, Any]) -> dict[str, list[str]]:
    """{search run: the trained models built from it (one per training seed)} from the rule's params."""
    return {run: [models] if isinstance(models, str) else list(models)
            for run, models in params.get("run_models", {}).items()}


def _with_accuracy(rows: pd.DataFrame, evals: pd.DataFrame, params: Mapping[str, Any]) -> pd.DataFrame:
    """Join the evaluation of the models trained from each search run (empty where none was trained): top-1 and
    top-5 the mean over the run's models (its training seeds)."""
    run_models = _run_models(params)
    rows = rows.copy()
    rows["trained_model"] = rows["run"].map(lambda r: ", ".join(run_models.get(r, [])))
    acc = evals.set_index("model") if not evals.empty else pd.DataFrame(columns=["top1", "top5"])
    for col in ("top1", "top5"):
        rows[col] = [float(acc.loc[[m for m in run_models.get(r, []) if m in acc.index], col].mean())
                     if any(m in acc.index for m in run_models.get(r, [])) else float("nan") for r in rows["run"]]
    return rows


# -- tables -------------------------------------------------------------------------------------------------


def _write(frame: pd.DataFrame, out: str, params: Mapping[str, Any], caption_table: str,
           units: Mapping[str, str] | None = None, decimals: Mapping[str, int] | None = None) -> None:
    meta = paper_table_meta(caption_table)
    extra = {k: v for k, v in params.items() if isinstance(v, (str, int, float, bool, list, dict))}
    write_table(frame, out, table_provenance(dict(params)), caption=meta["caption"], units=units, decimals=decimals,
                extra=extra)


def table1(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    """X3D-S kernel placements: params, GFLOPs, HomoEntr, STEntr (analytic) and top-1 where the variant was trained."""
    doc = read_json(inputs["variants"][0])
    # homoentr/stentr in the paper's convention (stem scored without X3D's temporal depthwise conv), params for the
    # classes the variants were counted with (Table 1: Sth-Sth V1's 174); see e3d.search.variants
    rows = pd.DataFrame([{"model": v["variant"], "params_m": v["params"] / 1e6, "gflops": v["gflops"],
                          "homoentr": v["homoentr"], "stentr": v["stentr"],
                          "homoentr_with_stem_dw": v.get("homoentr_with_stem_dw", float("nan"))}
                         for v in doc["variants"]])
    evals = eval_rows(inputs.get("evals", []))
    variant_models = dict(params.get("variant_models", {}))
    acc = {m: t for m, t in zip(evals.get("model", []), evals.get("top1", []))}
    rows["trained_model"] = rows["model"].map(lambda v: variant_models.get(v, ""))
    rows["top1"] = [acc.get(m, float("nan")) for m in rows["trained_model"]]
    out_frame = compare_with_paper(rows, load_paper_table("table1"),
                                   paper_columns=["params_m", "gflops", "homoentr", "top1"])
    _write(out_frame, out, params, "table1")


def table2(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    evals = eval_rows(inputs["evals"])
    _require_rows(evals, "Table 2")
    # Table 2's views are clips x crops ("1x1 V1-Val", "2x3 V2-Val")
    evals = evals.assign(views=evals["clips_x_crops"])
    cols = ["model", "dataset", "frames", "crop_px", "gflops", "views", "top1", "top5"]
    out_frame = compare_with_paper(evals[cols], load_paper_table("table2"), on=("model", "dataset"),
                                   paper_columns=["frames", "crop_px", "gflops", "views", "top1", "top5"])
    _write(out_frame, out, params, "table2")


def _trained_rows(inputs: Inputs, params: Mapping[str, Any], what: str) -> pd.DataFrame:
    """Every trained model of a dataset: the configured ones, and Table 7's comparison (where trained there) as
    one row per architecture with top-1/top-5 the mean over its training seeds and the top-1 range."""
    evals = eval_rows(inputs.get("evals", []))
    comparison = dict(params.get("comparison", {}))
    if comparison:
        evals = pd.concat([evals, seed_summary(eval_rows(inputs.get("comparison", [])), comparison, what)],
                          ignore_index=True)
    _require_rows(evals, what)
    return evals


def table3(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    comparison = dict(params.get("comparison", {}))
    evals = _trained_rows(inputs, params, "Table 3")
    # crop_px is the test crop (X3D tests at a larger crop than it trains at)
    cols = ["model", "frames", "crop_px", "params_m", "gflops", "views", "gflops_total", "top1", "top5"]
    if comparison:
        evals["seeds"] = evals["seeds"].fillna(1).astype(int) if "seeds" in evals else 1
        for col in ("top1_min", "top1_max"):
            evals[col] = evals[col].fillna(evals["top1"])
        cols += ["top1_min", "top1_max", "seeds"]
    out_frame = compare_with_paper(evals[cols], load_paper_table("table3"),
                                   paper_columns=["frames", "params_m", "gflops", "views", "top1", "top5"])
    _write(out_frame, out, params, "table3", decimals={"seeds": 0})


def search_energy_kwh(cpu_time_s: float, watts_per_core: float) -> float:
    """Energy of a CPU search: busy core-seconds x the configured power of one busy core."""
    if cpu_time_s < 0 or watts_per_core <= 0:
        raise BuildError(f"search energy needs cpu_time_s >= 0 and watts_per_core > 0, got {cpu_time_s}, {watts_per_core}")
    return cpu_time_s * watts_per_core / 3.6e6


def table4(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    archs = inputs["archs"]
    benches = inputs["benchmarks"]
    if len(archs) != len(benches):
        raise BuildError(f"Table 4: {len(archs)} search outputs but {len(benches)} benchmark files")
    watts = float(params["watts_per_core"])
    rows = []
    for arch, bench in zip(archs, benches):
        s = _search_summary(arch)
        b = read_benchmark(bench)
        rows.append({"run": s["run"], "search_devices": "CPU", "device_count": 1,
                     "device_name": str(params["search_device"]), "device_power_w": watts,
                     "wall_time_s": b["wall_time_s"], "cpu_time_s": b["cpu_time_s"],
                     "search_time_h": b["wall_time_s"] / 3600.0,
                     "energy_kwh": search_energy_kwh(b["cpu_time_s"], watts), "gflops": s["search_gflops"]})
    rows = _with_accuracy(pd.DataFrame(rows), eval_rows(inputs.get("evals", [])), params)
    # the paper names rows by model (E3D-M); ours by the search run's paper name where configured, else the run
    names = dict(params.get("run_names", {}))
    rows.insert(0, "model", rows["run"].map(lambda r: names.get(r, f"search-{r}")))
    rows = rows.drop(columns=["top5"])
    out_frame = compare_with_paper(rows, load_paper_table("table4"),
                                   paper_columns=["device_name", "device_power_w", "search_time_h", "energy_kwh",
                                                  "gflops", "top1"])
    _write(out_frame, out, params, "table4", units={"device_power_w": "W/core"},
           decimals={"device_power_w": 2, "device_count": 0})


def table11(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    """Searched with HomoEntr vs STEntr (and any other trained model): GFLOPs, top-1/top-5."""
    evals = eval_rows(inputs.get("evals", []))
    runs = pd.DataFrame([_search_summary(p) for p in inputs["archs"]])
    runs = _with_accuracy(runs, evals, params)
    names = dict(params.get("run_names", {}))
    # the paper names the two searches "E3D-S (HomoEntr)" / "E3D-S (STEntr)": the score is part of the name
    label = {"stentr": "STEntr", "homoentr": "HomoEntr"}
    runs["model"] = [n if "(" in n else f"{n} ({label.get(k, k)})"
                     for n, k in zip(runs["run"].map(lambda r: names.get(r, f"search-{r}")), runs["score_kind"])]
    rows = runs.rename(columns={"score_kind": "score", "search_gflops": "gflops"})[
        ["model", "run", "score", "gflops", "best_score", "trained_model", "top1", "top5"]]
    out_frame = compare_with_paper(rows, load_paper_table("table11"),
                                   paper_columns=["score", "frames", "crop_px", "gflops", "top1", "top5"])
    _write(out_frame, out, params, "table11")


def table12(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    """Kernel search spaces: the best STEntr found in each and the accuracy of its model where trained."""
    runs = pd.DataFrame([_search_summary(p) for p in inputs["archs"]])
    runs = _with_accuracy(runs, eval_rows(inputs.get("evals", [])), params)
    rows = runs.rename(columns={"search_gflops": "gflops", "best_score": "stentr"})[
        ["kernel_space", "run", "gflops", "stentr", "trained_model", "top1"]]
    out_frame = compare_with_paper(rows, load_paper_table("table12"), on=("kernel_space",),
                                   paper_columns=["gflops", "top1", "stentr"])
    _write(out_frame, out, params, "table12")


def _entrant_scores(arch_json: str) -> dict[str, float]:
    """STEntr and HomoEntr of a trained network (its arch.json: the spec as trained, at the training input); NaN
    where the score is undefined (a kernel parallel to the feature map)."""
    from e3d.arch.spec import ArchSpec
    from e3d.score.registry import score_or_nan

    spec = ArchSpec.from_dict(read_json(arch_json)["spec"])
    return {name: score_or_nan(name, spec) for name in ("stentr", "homoentr")}


def table7(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    """The main comparison at one budget: one row per entrant (a search per training-free score, the hand-designed
    model, X3D contracted to the budget, random architectures of the space), each trained once per seed: top-1 mean
    and range over the seeds, top-5 mean, the repeated-frame control's top-1 mean, analytic STEntr/HomoEntr of the
    network as trained, GFLOPs x views, params and each search's design cost."""
    entrants = list(params.get("entrants", []))
    _require_rows(pd.DataFrame(entrants), "Table 7")
    groups = {e["entrant"]: list(e["models"]) for e in entrants}
    evals = seed_summary(eval_rows(inputs.get("evals", [])), groups, "Table 7")
    single = seed_summary(eval_rows(inputs.get("single", [])), groups, "Table 7 (repeated frame)") \
        if inputs.get("single") else None
    searches = {Path(p).parent.name: (read_json(p), _search_summary(p)) for p in inputs.get("archs", [])}
    curves = {Path(p).parent.name: training_top1(p) for p in inputs.get("train_metrics", [])}
    arch_of = {Path(p).parent.name: p for p in inputs.get("trained_archs", [])}
    rows = []
    for e, ev in zip(entrants, evals.to_dict("records")):
        row = {"model": e["label"], "entrant": e["entrant"], "kind": e["kind"], "score": "",
               "params_m": ev["params_m"], "gflops": ev["gflops"], "views": ev["views"],
               "gflops_total": ev["gflops_total"], "top1": ev["top1"], "top1_min": ev["top1_min"],
               "top1_max": ev["top1_max"], "top5": ev["top5"], "seeds": ev["seeds"]}
        if single is not None:
            row["single_frame_top1"] = float(single.loc[single["model"] == e["entrant"], "top1"].iloc[0])
        if curves:
            seeds = [curves[m] for m in e["models"] if m in curves]
            # the last epoch's training top-1 beside the validation top-1: a wide gap is overfitting, a low one
            # underfitting
            row["train_top1"] = float(np.mean([c[-1] for c in seeds])) if seeds else float("nan")
            # training top-1 change over the last fifth of the epochs, the largest over the seeds (plateau: < 2)
            row["train_top1_last_fifth_pp"] = max((plateau_change(c) for c in seeds), key=abs, default=float("nan"))
        trained = arch_of.get(e["models"][0])
        if trained:
            row.update(_entrant_scores(trained))
        if e["run"]:
            if e["run"] not in searches:
                raise BuildError(f"Table 7: no search output of run {e['run']!r} (entrant {e['entrant']!r})")
            doc, summ = searches[e["run"]]
            device = str(doc.get("summary", {}).get("score_device", "cpu"))
            gpu = device.startswith("cuda")
            row.update(score=summ["score_kind"], search_devices="GPU" if gpu else "CPU",
                       search_device_name=device.partition("(")[2].rstrip(")") if gpu else
                       str(params.get("search_device", "CPU")),
                       design_cost_h=float(summ["search_seconds"]) / 3600.0, iterations=summ["iterations"])
        rows.append(row)
    out_frame = compare_with_paper(pd.DataFrame(rows), load_paper_table("table7"),
                                   paper_columns=["score", "gflops", "search_devices", "search_device_name",
                                                  "design_cost_h", "top1", "top5"])
    _write(out_frame, out, params, "table7", decimals={"design_cost_h": 4, "seeds": 0})


def _profile_row(path: str) -> dict[str, Any]:
    """One Table 13 row from an `e3d profile --latency` artifact (e3d.models.profile.profile_model)."""
    doc = read_json(path)
    lat = doc.get("latency")
    if not isinstance(lat, dict):
        raise BuildError(f"{path}: profile has no latency measurement (run the profile rule with evaluate.latency: true)")
    missing = [k for k in ("latency_ms_per_video", "throughput_videos_per_s") if k not in lat]
    if missing:
        raise BuildError(f"{path}: profile latency lacks {missing}")
    single = doc.get("latency_single_clip")
    p = Path(path)
    return {"model": p.parent.name, "dataset": p.parent.parent.name, "device_name": str(lat.get("device", "")),
            "input": f"{doc['frames']}x{doc['resolution']}^2" if "frames" in doc and "resolution" in doc else "",
            "batch_size": int(lat.get("batch", 0)), "precision": str(lat.get("precision", "")),
            "gflops": float(doc["fvcore_gflops_conv"]), "params_m": float(doc["fvcore_params"]) / 1e6,
            "latency_ms": float(lat["latency_ms_per_video"]), "throughput_clips_s": float(lat["throughput_videos_per_s"]),
            "latency_single_clip_ms": float(single["latency_ms_per_video"]) if isinstance(single, dict) else float("nan"),
            "family": str(doc.get("family", ""))}


# Table 13's columns: the paper's (its crop and frames follow at the end, as `crop_px_paper`, `frames_paper`)
_TABLE13_PAPER = ["gflops", "params_m", "top1", "latency_ms", "throughput_clips_s", "crop_px", "frames"]
PAPER_INPUT = "paper input, untrained"  # the `measured` column of the built-ins profiled at their paper input


def _x3d_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Each paper-input row beside the X3D row profiled at the same input: our single-clip latency and batch-16
    throughput as ratios to X3D's, and the paper's throughput ratio (its latencies are 1000 / throughput)."""
    frame = frame.copy()
    cols = ("single_clip_latency_vs_x3d", "throughput_vs_x3d", "throughput_vs_x3d_paper")
    for col in cols:
        frame[col] = float("nan")
    ours = frame[frame["measured"] == PAPER_INPUT]
    for i, row in ours.iterrows():
        refs = ours[(ours["family"] == "x3d") & (ours["input"] == row["input"])]
        if row["family"] == "x3d" or len(refs) != 1:
            continue
        ref = refs.iloc[0]
        frame.loc[i, cols[0]] = row["latency_single_clip_ms"] / ref["latency_single_clip_ms"]
        frame.loc[i, cols[1]] = row["throughput_clips_s"] / ref["throughput_clips_s"]
        frame.loc[i, cols[2]] = row["throughput_clips_s_paper"] / ref["throughput_clips_s_paper"]
    frame["throughput_vs_x3d_diff"] = frame[cols[1]] - frame[cols[2]]
    return frame


def table13(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    """Inference speed. Two kinds of rows (`measured`): the built-in architectures profiled untrained at the paper's
    input (`paper_profiles`, joined to the paper's rows of the same model, with ratios to X3D at the same input) and
    the trained models at their training clip size (`profiles`, with their top-1)."""
    paper = load_paper_table("table13")
    trained = pd.DataFrame([_profile_row(p) for p in inputs.get("profiles", [])])
    at_paper_input = pd.DataFrame([_profile_row(p) for p in inputs.get("paper_profiles", [])])
    _require_rows(pd.concat([trained, at_paper_input]), "Table 13")
    parts = []
    if not at_paper_input.empty:
        # untrained: no dataset, no accuracy (the columns stay, so both kinds of rows line up)
        at_paper_input = at_paper_input.assign(dataset=None, top1=float("nan"), measured=PAPER_INPUT)
        parts.append(compare_with_paper(at_paper_input, paper, on=("model",), paper_columns=_TABLE13_PAPER))
    if not trained.empty:
        acc = eval_rows(inputs.get("evals", []))
        trained["top1"] = float("nan")
        if not acc.empty:
            trained = trained.drop(columns=["top1"]).merge(acc[["model", "dataset", "top1"]],
                                                           on=["model", "dataset"], how="left")
        trained = trained.assign(measured="trained, training clip")
        # the paper's rows once: beside the paper-input rows when there are some, else beside the trained ones
        parts.append(compare_with_paper(trained, paper, on=("model",), paper_columns=_TABLE13_PAPER,
                                        how="left" if parts else "outer"))
    rows = pd.concat(parts, ignore_index=True)
    rows = _x3d_ratios(rows) if not at_paper_input.empty else rows
    first, last = ["model", "measured", "input", "dataset", "device_name", "batch_size"], ["rows"]
    rows = rows[[c for c in first if c in rows] + [c for c in rows if c not in first + last + ["family"]] + last]
    _write(rows, out, params, "table13", units={"latency_single_clip_ms": "ms"},
           decimals={"latency_single_clip_ms": 2, "batch_size": 0})


# -- figures ------------------------------------------------------------------------------------------------


def _figure_meta(params: Mapping[str, Any]) -> dict[str, Any]:
    return {"provenance": figures.figure_provenance(dict(params)),
            "extra": {k: v for k, v in params.items() if isinstance(v, (str, int, float, bool))}}


def fig2(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    """Accuracy vs STEntr and HomoEntr of the Table 1 variants that were trained."""
    doc = read_json(inputs["variants"][0])
    evals = eval_rows(inputs.get("evals", []))
    acc = dict(zip(evals.get("model", []), evals.get("top1", [])))
    variant_models = dict(params.get("variant_models", {}))
    rows = pd.DataFrame([{"model": v["variant"], "stentr": v["stentr"], "homoentr": v["homoentr"],
                          "top1": acc.get(variant_models.get(v["variant"], ""), float("nan"))}
                         for v in doc["variants"]])
    rows = rows.dropna(subset=["top1"])
    if len(rows) < 2:
        raise BuildError("Figure 2: needs at least two trained kernel-placement variants (tables.variant_models)")
    figures.accuracy_vs_scores(rows, out, chance=_chance_top1(inputs.get("evals", [])), **_figure_meta(params))


def _chance_top1(eval_paths: Sequence[str]) -> float | None:
    """The chance top-1 (%) the evaluations record, when they agree on one (one dataset, one class count)."""
    levels = {read_json(p).get("chance_top1") for p in eval_paths}
    return 100.0 * float(levels.pop()) if len(levels) == 1 and None not in levels else None


def fig5(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    """Accuracy vs GFLOPs: our trained models beside the paper's Table 3 rows."""
    ours = _trained_rows(inputs, params, "Figure 5")
    ours = ours[["model", "gflops", "top1"]].assign(family="ours")
    paper = load_paper_table("table3")[["model", "gflops", "top1"]].dropna().assign(family="paper (Table 3)")
    figures.accuracy_vs_gflops(pd.concat([ours, paper], ignore_index=True), out, **_figure_meta(params))


def search_traces(inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    frames = []
    for path in inputs["traces"]:
        t = read_parquet(path)
        missing = [c for c in ("iteration", "best_score", "median_score") if c not in t.columns]
        if missing:
            raise BuildError(f"{path}: search trace lacks column(s) {missing}")
        frames.append(t.assign(run=Path(path).parent.name))
    if not frames:
        raise BuildError("search traces: no search runs configured")
    trace = pd.concat(frames, ignore_index=True)
    figures.search_traces(trace.rename(columns={"best_score": "best", "median_score": "median"}), out, run="run",
                          ylabel="score", **_figure_meta(params))


BUILDERS: dict[str, Callable[[Inputs, Mapping[str, Any], str], None]] = {
    "table1": table1, "table2": table2, "table3": table3, "table4": table4, "table7": table7, "table11": table11,
    "table12": table12, "table13": table13, "fig2": fig2, "fig5": fig5, "search_traces": search_traces,
}


def named_inputs(input: Any) -> dict[str, list[str]]:
    """A rule's named inputs as {name: [paths]} (Snakemake gives a one-file name as a string). Names without
    files are left out, as the builders treat an absent name (e.g. Table 4 with no trained searched model)."""
    out: dict[str, list[str]] = {}
    for key in input.keys():
        value = input[key]
        paths = [value] if isinstance(value, str) else [str(v) for v in value]
        if paths:
            out[key] = paths
    return out


def build(name: str, inputs: Inputs, params: Mapping[str, Any], out: str) -> None:
    if name not in BUILDERS:
        raise BuildError(f"no table or figure {name!r}; known: {', '.join(BUILDERS)}")
    BUILDERS[name](inputs, params, out)

# The related systems' tables (DARTS-P3D, SGS) live in their own module; `e3d tables` lists them here.
BUILDERS.update(systems.BUILDERS)
