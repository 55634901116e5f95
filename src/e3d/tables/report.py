"""The report's contract as data: a ReportItem is one result's target, its caption (workflow/report/<name>.rst),
its report category, and the `params:` / wildcards its caption quotes (the items themselves are listed in
e3d.tables.registry, beside the table rules they come from). Rules that register an output with report() must
pass exactly these params, so the caption says how that result was measured (device, views, FLOPs convention,
dataset). `render_caption` renders a caption the way snakemake 9 does (Jinja2, then
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


class CaptionError(E3DError, ValueError):
    """A caption that does not render with the params its rule passes."""


def render_caption(
    caption: str | Path,
    params: Mapping[str, Any],
    wildcards: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    files: Any = (),
) -> str:
    """Render a caption file to HTML as snakemake's report does; an undefined placeholder or an RST error raises.
    `files` stands for the report's results (objects with `target`, the file name, and `path`), which the front
    page (workflow.rst) lists and includes."""
    from docutils.core import publish_parts
    from jinja2 import Environment, StrictUndefined, TemplateError

    path = Path(caption)
    snakemake = SimpleNamespace(params=SimpleNamespace(**params), wildcards=SimpleNamespace(**(wildcards or {})),
                                config=dict(config or {}))
    env = Environment(trim_blocks=True, lstrip_blocks=True, undefined=StrictUndefined)
    try:
        text = env.from_string(path.read_text(encoding="utf-8")).render(snakemake=snakemake, files=list(files),
                                                                         categories={})
    except TemplateError as exc:
        raise CaptionError(f"{path}: {exc}") from exc
    overrides = {"report_level": 2, "halt_level": 2, "warning_stream": False}  # warnings are errors
    try:
        return publish_parts(text, writer="html", settings_overrides=overrides)["body"]
    except Exception as exc:  # docutils raises SystemMessage subclasses
        raise CaptionError(f"{path}: not valid reStructuredText after rendering ({exc})") from exc
