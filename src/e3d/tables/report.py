"""The report's contract: for every table and figure, its target, its caption (workflow/report/<name>.rst),
its report category, and the `params:` / wildcards its caption quotes. Rules that register an output with
report() must pass exactly these params, so the caption says how that result was measured (device, views,
FLOPs convention, dataset). `render_caption` renders a caption the way snakemake 9 does (Jinja2, then
docutils), strictly, so a test catches a placeholder no rule provides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Mapping

from e3d.errors import E3DError

REPORT_DIR = Path("workflow") / "report"
FLOPS_CONVENTION = "fvcore multiply-accumulates (1 fused multiply-add = 1 FLOP) of one clip at the stated crop"
_MEASURED = ("device", "views", "flops_convention")


@dataclass(frozen=True)
class ReportItem:
    name: str  # caption file stem
    target: str  # output path pattern (wildcards in braces)
    category: str
    subcategory: str
    params: tuple[str, ...]

    @property
    def wildcards(self) -> tuple[str, ...]:
        import re

        return tuple(re.findall(r"{(\w+)}", self.target))

    def caption_path(self, root: str | Path = ".") -> Path:
        return Path(root) / REPORT_DIR / f"{self.name}.rst"


REPORT_ITEMS: tuple[ReportItem, ...] = (
    ReportItem("table1_kernels", "results/table1_kernels_{dataset}.csv", "Tables", "Table 1", _MEASURED),
    ReportItem("table2_sth", "results/table2_sth.csv", "Tables", "Table 2", _MEASURED),
    ReportItem("table3", "results/table3_{dataset}.csv", "Tables", "Table 3", _MEASURED),
    ReportItem("table4_search_cost", "results/table4_search_cost.csv", "Tables", "Table 4",
               ("search_device", "wattage_w", "flops_convention")),
    ReportItem("table7_training_free", "results/table7_training_free_{dataset}.csv", "Tables", "Table 7",
               _MEASURED + ("search_device",)),
    ReportItem("table11_scores", "results/table11_scores_{dataset}.csv", "Tables", "Table 11", _MEASURED),
    ReportItem("table12_kernel_space", "results/table12_kernel_space_{dataset}.csv", "Tables", "Table 12",
               _MEASURED),
    ReportItem("table13_inference", "results/table13_inference.csv", "Tables", "Table 13",
               ("device", "batch_size", "flops_convention")),
    ReportItem("fig2_accuracy_vs_scores", "results/fig2_accuracy_vs_scores_{dataset}.png", "Figures", "Figure 2",
               ("device", "views")),
    ReportItem("fig3_correlation", "results/fig3_correlation_{dataset}.png", "Figures", "Figure 3",
               ("device", "flops_convention", "n_models", "method", "confidence", "n_boot")),
    ReportItem("fig4_forward_vs_analytic", "results/fig4_forward_vs_analytic.png", "Figures", "Figure 4",
               ("repeats", "search_device")),
    ReportItem("fig5_accuracy_vs_gflops", "results/fig5_accuracy_vs_gflops_{dataset}.png", "Figures", "Figure 5",
               _MEASURED),
    ReportItem("search_traces", "results/search_traces.png", "Figures", "Search traces",
               ("population", "iterations", "search_device")),
)


class CaptionError(E3DError, ValueError):
    """A caption that does not render with the params its rule passes."""


def report_item(name: str) -> ReportItem:
    for item in REPORT_ITEMS:
        if item.name == name:
            return item
    raise CaptionError(f"no report item {name!r}; known: {', '.join(i.name for i in REPORT_ITEMS)}")


def render_caption(
    caption: str | Path,
    params: Mapping[str, Any],
    wildcards: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
) -> str:
    """Render a caption file to HTML as snakemake's report does; an undefined placeholder or an RST error raises."""
    from docutils.core import publish_parts
    from jinja2 import Environment, StrictUndefined, TemplateError

    path = Path(caption)
    snakemake = SimpleNamespace(params=SimpleNamespace(**params), wildcards=SimpleNamespace(**(wildcards or {})),
                                config=dict(config or {}))
    env = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    try:
        text = env.from_string(path.read_text(encoding="utf-8")).render(snakemake=snakemake)
    except TemplateError as exc:
        raise CaptionError(f"{path}: {exc}") from exc
    overrides = {"report_level": 2, "halt_level": 2, "warning_stream": False}  # warnings are errors
    try:
        return publish_parts(text, writer="html", settings_overrides=overrides)["body"]
    except Exception as exc:  # docutils raises SystemMessage subclasses
        raise CaptionError(f"{path}: not valid reStructuredText after rendering ({exc})") from exc
