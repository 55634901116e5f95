"""Every paper table and figure that `e3d.tables.build` makes, as one registry: its rule name, builder, output
stem, caption, input artifacts, builder settings and the params its caption quotes. workflow/rules/tables.smk
generates one Snakemake rule per entry, every one registered with report(); a new table is one entry here plus
its caption file workflow/report/<caption>.rst (and its builder in e3d.tables.build).

Inputs and settings come from the sections' helpers (TablesConfig, DartsConfig, SGSConfig, BaselinesConfig),
gathered in TableSources. No Snakemake here: the functions take the rule's wildcards (anything with attribute
access, e.g. `wildcards.dataset`), so tests can call them with a SimpleNamespace.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from e3d.layout import table7_stem
from e3d.tables.report import FLOPS_CONVENTION, CaptionError, ReportItem

if TYPE_CHECKING:
    from e3d.layout import Layout
    from e3d.baselines.workflow import BaselinesConfig
    from e3d.darts.workflow import DartsConfig
    from e3d.sgs.workflow import SGSConfig
    from e3d.tables.workflow import TablesConfig


@dataclass(frozen=True)
class TableSources:
    """The config sections' helpers the registry reads its inputs and settings from."""

    tables: "TablesConfig"
    darts: "DartsConfig"
    sgs: "SGSConfig"
    baselines: "BaselinesConfig"


Wildcards = Any
Inputs = dict[str, list[str]]
SourceFn = Callable[[TableSources, Wildcards], Any]


@dataclass(frozen=True)
class TableRule:
    """One table or figure rule. `quoted` maps each param its caption quotes to how it is computed; the report
    contract (REPORT_ITEMS) is derived from these fields, so rule and caption cannot disagree."""

    rule: str  # Snakemake rule name (job lists and --allowed-rules name it)
    builder: str  # `e3d tables NAME`, a key of e3d.tables.build.BUILDERS
    stem: str  # output file stem under results_dir, wildcards in braces
    caption: str  # workflow/report/<caption>.rst
    subcategory: str  # the report's heading, e.g. "Table 3"
    inputs: Callable[[TableSources, Wildcards], Inputs]
    params: Callable[[TableSources, Wildcards], dict[str, Any]]  # the builder's settings (its `--params`)
    quoted: Mapping[str, SourceFn]
    figure: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)  # report labels beside the table/figure name
    code_stages: tuple[str, ...] = ("tables",)  # e3d.provenance.STAGE_MODULES whose code the output depends on
    paper_data: bool = True  # whether it reads the paper's transcribed tables (their digest joins the code's)

    @property
    def report(self) -> ReportItem:
        main = f"results/{self.stem}" + (".png" if self.figure else ".csv")
        return ReportItem(self.caption, main, "Figures" if self.figure else "Tables", self.subcategory,
                          tuple(self.quoted))

    def report_labels(self) -> dict[str, str]:
        labels = {"figure" if self.figure else "table": self.subcategory}
        if "{dataset}" in self.stem:
            labels["dataset"] = "{dataset}"
        return {**labels, **self.labels}

    def outputs(self, layout: "Layout", report: Callable[..., Any]) -> dict[str, Any]:
        """The rule's named outputs; the shown ones wrapped with Snakemake's `report` (passed in by the rule file).
        A table: CSV (download) and HTML (shown inline) with its caption, Parquet + meta beside; a figure: PNG
        with its caption, its data as CSV + meta beside. Captions are relative to workflow/rules/."""
        caption = f"../report/{self.caption}.rst"
        category = self.report.category

        def shown(path: str, **labels: str) -> Any:
            return report(path, caption=caption, category=category, subcategory=self.subcategory,
                          labels={**self.report_labels(), **labels})

        def path(suffix: str) -> str:
            return layout.result(self.stem, suffix)

        if self.figure:
            return {"png": shown(path("png")), "csv": path("csv"), "meta": path("meta.json")}
        return {"csv": shown(path("csv"), format="csv"), "html": shown(path("html"), format="html"),
                "parquet": path("parquet"), "meta": path("meta.json")}

    def log(self, layout: "Layout") -> str:
        return layout.table_log(self.stem)

    # Closures for the rule file: Snakemake calls input and params functions with the job's wildcards.
    def input_function(self, sources: TableSources) -> Callable[[Wildcards], Inputs]:
        return lambda wildcards: self.inputs(sources, wildcards)

    def params_function(self, sources: TableSources) -> Callable[[Wildcards], dict[str, Any]]:
        return lambda wildcards: self.params(sources, wildcards)

    def quoted_functions(self, sources: TableSources) -> dict[str, Callable[[Wildcards], Any]]:
        return {name: _bound(fn, sources) for name, fn in self.quoted.items()}


def _bound(fn: SourceFn, sources: TableSources) -> Callable[[Wildcards], Any]:
    return lambda wildcards: fn(sources, wildcards)


# -- what captions quote --------------------------------------------------------------------------------------

def _device(s: TableSources, w: Wildcards) -> str:
    return s.tables.device()


def _views(s: TableSources, w: Wildcards) -> str:
    return s.tables.views(w.dataset)


def _flops(s: TableSources, w: Wildcards) -> str:
    return FLOPS_CONVENTION


def _search_device(s: TableSources, w: Wildcards) -> str:
    return s.tables.search_device()


MEASURED: Mapping[str, SourceFn] = {"device": _device, "views": _views, "flops_convention": _flops}
STH = ("sthv1", "sthv2")


# -- inputs and settings shared by several tables ----------------------------------------------------------------

def _variants(s: TableSources) -> list[str]:
    return [s.tables.layout.kernel_variants()]


def _dataset_params(s: TableSources, w: Wildcards) -> dict[str, Any]:
    return {**s.tables.common_params(w.dataset), "dataset": w.dataset}


def _variant_params(s: TableSources, w: Wildcards) -> dict[str, Any]:
    return {**_dataset_params(s, w), "variant_models": s.tables.cfg["variant_models"]}


def _search_runs(s: TableSources, key: str) -> str:
    return ", ".join(f"{r}: {c[key]}" for r, c in sorted(s.tables.search_runs.items()))


def _table4_params(s: TableSources, w: Wildcards) -> dict[str, Any]:
    t = s.tables
    return {"search_device": t.search_device(), "watts_per_core": t.cfg["watts_per_core"],
            "run_models": t.run_models(t.runs("table4_runs")), "run_names": t.cfg["run_names"],
            "dataset": t.search_cost_dataset}


def _table11_params(s: TableSources, w: Wildcards) -> dict[str, Any]:
    t = s.tables
    return {**_dataset_params(s, w), "run_names": t.cfg["run_names"],
            "run_models": t.run_models(t.runs("table11_runs"))}


def _table12_params(s: TableSources, w: Wildcards) -> dict[str, Any]:
    return {**_dataset_params(s, w), "run_models": s.tables.run_models(s.tables.runs("table12_runs"))}


def _search_archs_evals(key: str) -> Callable[[TableSources, Wildcards], Inputs]:
    def inputs(s: TableSources, w: Wildcards) -> Inputs:
        return {"archs": s.tables.archs(s.tables.runs(key)), "evals": s.tables.search_evals(w.dataset, key)}

    return inputs


def _table4_inputs(s: TableSources, w: Wildcards) -> Inputs:
    t = s.tables
    runs = t.runs("table4_runs")
    return {"archs": t.archs(runs), "benchmarks": t.benchmarks(runs),
            "evals": t.search_evals(t.search_cost_dataset, "table4_runs")}


def _table3_inputs(s: TableSources, w: Wildcards) -> Inputs:  # Figure 5's too
    """The configured models, plus Table 7's comparison (every seed) where it was trained on this dataset."""
    out = {"evals": s.tables.evals(w.dataset)}
    if s.baselines.table7_on(w.dataset):
        out["comparison"] = s.baselines.table7_evals(w.dataset)
    return out


def _table3_params(s: TableSources, w: Wildcards) -> dict[str, Any]:
    out = _dataset_params(s, w)
    if s.baselines.table7_on(w.dataset):
        out["comparison"] = {e["label"]: e["models"] for e in s.baselines.table7_params(w.dataset)["entrants"]}
    return out


def _table7_rule(schedule: str) -> TableRule:
    """Table 7 under one of e3d.layout.TABLE7_SCHEDULES: "" (the main schedule) or "long"
    (baselines.table7.long_settings, where configured). Same builder; its own rule, file and caption."""
    suffix = f"_{schedule}" if schedule else ""
    quoted: dict[str, SourceFn] = {**MEASURED, "search_device": _search_device}
    if schedule:
        quoted["schedule"] = lambda s, w: ", ".join(f"{k} {v}" for k, v in
                                                    sorted(s.baselines.table7_settings(schedule).items()))
    return TableRule(
        f"table7_training_free{suffix}", "table7", f"{table7_stem(schedule)}_{{dataset}}",
        f"table7_training_free{suffix}", f"Table 7 ({schedule} schedule)" if schedule else "Table 7",
        inputs=lambda s, w: s.baselines.table7_inputs(w.dataset, schedule=schedule),
        params=lambda s, w: s.baselines.table7_params(w.dataset, schedule=schedule),
        # the builder scores each trained network (STEntr, HomoEntr) with the search stage's scorer
        quoted=quoted, code_stages=("tables", "search"))


TABLE_RULES: tuple[TableRule, ...] = (
    TableRule(
        "table1_kernels", "table1", "table1_kernels_{dataset}", "table1_kernels", "Table 1",
        inputs=lambda s, w: {"variants": _variants(s), "evals": s.tables.variant_evals(w.dataset)},
        params=_variant_params, quoted=MEASURED),
    TableRule(
        "table2_sth", "table2", "table2_sth", "table2_sth", "Table 2",
        inputs=lambda s, w: {"evals": s.tables.evals("sthv1") + s.tables.evals("sthv2")},
        params=lambda s, w: s.tables.common_params(*STH),
        quoted={**MEASURED, "views": lambda s, w: s.tables.views(*STH)}, labels={"dataset": "+".join(STH)}),
    TableRule(
        "table3", "table3", "table3_{dataset}", "table3", "Table 3",
        inputs=_table3_inputs, params=_table3_params, quoted=MEASURED),
    TableRule(
        "table4_search_cost", "table4", "table4_search_cost", "table4_search_cost", "Table 4",
        inputs=_table4_inputs, params=_table4_params,
        quoted={"search_device": _search_device, "wattage_w": lambda s, w: s.tables.cfg["watts_per_core"],
                "flops_convention": _flops}),
    _table7_rule(""),
    _table7_rule("long"),
    TableRule(
        "table11_scores", "table11", "table11_scores_{dataset}", "table11_scores", "Table 11",
        inputs=_search_archs_evals("table11_runs"), params=_table11_params, quoted=MEASURED),
    TableRule(
        "table12_kernel_space", "table12", "table12_kernel_space_{dataset}", "table12_kernel_space", "Table 12",
        inputs=_search_archs_evals("table12_runs"), params=_table12_params, quoted=MEASURED),
    TableRule(
        "table13_inference", "table13", "table13_inference", "table13_inference", "Table 13",
        inputs=lambda s, w: s.tables.table13_inputs(),
        params=lambda s, w: {"device": s.tables.device(), "dataset": s.tables.inference_dataset,
                             "paper_models": s.tables.paper_models(),
                             "paper_timing": dict(s.tables.cfg["table13_paper_timing"])},
        quoted={"device": _device, "batch_size": lambda s, w: "as recorded per row (batch_size column)",
                "flops_convention": _flops, "paper_inputs": lambda s, w: s.tables.paper_inputs(),
                "paper_timing": lambda s, w: s.tables.paper_timing()}),
    TableRule(
        "table_darts", "table_darts", "table_darts_{dataset}", "table_darts", "DARTS-P3D",
        inputs=lambda s, w: s.darts.table_inputs(w.dataset), params=lambda s, w: s.darts.table_params(w.dataset),
        quoted=MEASURED, paper_data=False),
    TableRule(
        "table_sgs", "table_sgs", "table_sgs_{dataset}", "table_sgs", "SGS",
        inputs=lambda s, w: s.sgs.evals(w.dataset), params=lambda s, w: s.sgs.table_params(w.dataset),
        quoted=MEASURED, code_stages=("tables", "sgs"), paper_data=False),
    TableRule(
        "fig2_accuracy_vs_scores", "fig2", "fig2_accuracy_vs_scores_{dataset}", "fig2_accuracy_vs_scores",
        "Figure 2", figure=True,
        inputs=lambda s, w: {"variants": _variants(s), "evals": s.tables.variant_evals(w.dataset)},
        params=_variant_params, quoted={"device": _device, "views": _views}),
    TableRule(
        "fig5_accuracy_vs_gflops", "fig5", "fig5_accuracy_vs_gflops_{dataset}", "fig5_accuracy_vs_gflops",
        "Figure 5", figure=True,
        inputs=_table3_inputs, params=_table3_params, quoted=MEASURED),
    TableRule(
        "search_traces", "search_traces", "search_traces", "search_traces", "Search traces", figure=True,
        inputs=lambda s, w: {"traces": s.tables.traces()},
        params=lambda s, w: {"search_device": s.tables.search_device()},
        quoted={"population": lambda s, w: _search_runs(s, "population"),
                "iterations": lambda s, w: _search_runs(s, "iterations"), "search_device": _search_device}),
)

# Figures made by a stage's own CLI (workflow/rules/baselines.smk registers them with report() itself).
STAGE_REPORT_ITEMS: tuple[ReportItem, ...] = (
    ReportItem("fig3_correlation", "results/fig3_correlation_{dataset}.png", "Figures", "Figure 3",
               ("device", "flops_convention", "n_models", "method", "confidence", "n_boot")),
    ReportItem("fig4_forward_vs_analytic", "results/fig4_forward_vs_analytic.png", "Figures", "Figure 4",
               ("repeats", "search_device")),
    # the front page's text (tables.smk's summary rule, e3d.tables.summary)
    ReportItem("summary", "results/summary_{dataset}.rst", "Summary", "What this run shows", ()),
    # the run's configuration (tables.smk's config_used rule), linked from the front page
    ReportItem("config_used", "results/config_used.yaml", "Configuration", "Configuration", ()),
)

# The report's contract: every result registered with report(), its caption and the params the caption quotes.
REPORT_ITEMS: tuple[ReportItem, ...] = tuple(t.report for t in TABLE_RULES) + STAGE_REPORT_ITEMS


def report_item(name: str) -> ReportItem:
    for item in REPORT_ITEMS:
        if item.name == name:
            return item
    raise CaptionError(f"no report item {name!r}; known: {', '.join(i.name for i in REPORT_ITEMS)}")
