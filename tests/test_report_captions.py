import re

import pytest

from e3d.tables.registry import REPORT_ITEMS, report_item
from e3d.tables.report import REPORT_DIR, CaptionError, render_caption

SAMPLE = {"device": "NVIDIA H100 (cuda)", "views": "1x1", "flops_convention": "fvcore MACs", "search_device": "CPU",
          "wattage_w": 65, "batch_size": 16, "n_models": 60, "method": "kendall", "confidence": 0.95,
          "n_boot": 1000, "repeats": 1000, "population": 512, "iterations": 500000,
          "paper_inputs": "e3d-s 13x160^2, x3d-s 13x160^2",
          "paper_timing": "batch 1: median of 3 passes after 1 warm-up", "schedule": "epochs 24"}


def test_every_caption_file_is_registered_and_vice_versa(repo_root):
    files = {p.stem for p in (repo_root / REPORT_DIR).glob("*.rst")} - {"workflow"}
    assert files == {item.name for item in REPORT_ITEMS}


@pytest.mark.parametrize("item", REPORT_ITEMS, ids=lambda i: i.name)
def test_caption_renders_with_exactly_its_params(repo_root, item):
    path = item.caption_path(repo_root)
    params = {k: SAMPLE[k] for k in item.params}
    wildcards = {w: "k400" for w in item.wildcards}
    html = render_caption(path, params, wildcards)
    for value in params.values():
        assert str(value) in html
    assert "{{" not in html and "{%" not in html
    used = set(re.findall(r"snakemake\.params\.(\w+)", path.read_text()))
    assert used == set(item.params), f"{item.name}: caption uses {sorted(used)}, contract says {sorted(item.params)}"
    used_wc = set(re.findall(r"snakemake\.wildcards\.(\w+)", path.read_text()))
    assert used_wc <= set(item.wildcards)
    if item.params:  # a missing param is an error, not an empty string
        with pytest.raises(CaptionError, match="has no attribute|undefined"):
            render_caption(path, dict(list(params.items())[1:]), wildcards)


def test_workflow_description_says_where_the_config_is(repo_root):
    config = {"tables": {"datasets": ["synthetic"], "seed": 0}, "note": "a <b> & c"}
    html = render_caption(repo_root / REPORT_DIR / "workflow.rst", {}, {}, config)
    # no config dump on the front page (it buried the results); without the config result it says how to build it
    assert "Configuration used" in html and "snakemake config_used" in html and "&quot;datasets&quot;" not in html


def test_front_page_opens_on_the_summary_with_the_key_results_linked(repo_root, tmp_path):
    from types import SimpleNamespace

    summary = tmp_path / "results" / "summary_synthetic.rst"
    summary.parent.mkdir()
    summary.write_text("What this run shows (synthetic)\n-------------------------------\n\nSTEntr ranks 2 of 9.\n\n"
                       ".. list-table:: the table\n   :header-rows: 1\n\n   * - model\n   * - big-table-row\n")
    files = [SimpleNamespace(target=p.name, path=p) for p in
             (summary, tmp_path / "results" / "config_used.yaml", tmp_path / "results" / "table7_training_free_synthetic.html",
              tmp_path / "results" / "fig3_correlation_synthetic.png", tmp_path / "results" / "table1_kernels_s.html")]
    text = (repo_root / REPORT_DIR / "workflow.rst").read_text()
    # Snakemake appends link targets for every result; the test page defines them the same way
    links = "\n".join(f".. _{f.target}: javascript:void(0)" for f in files)
    page = tmp_path / "workflow.rst"
    page.write_text(text + "\n" + links + "\n")
    html = render_caption(page, {}, {}, {"seed": 0}, files=files)
    assert html.index("STEntr ranks 2 of 9") < html.index("<h1>Configuration used</h1>")  # findings first
    assert "big-table-row" not in html  # the table stays in the Summary result: a tall page loses its top
    assert "table7_training_free_synthetic.html" in html and "fig3_correlation_synthetic.png" in html
    assert "table1_kernels_s.html" not in html  # only the key results are listed
    assert "config_used.yaml" in html and "defaults and seeds included" in html


def test_the_default_profile_keeps_a_tall_front_page_in_reach(repo_root):
    """Snakemake's report centres the front page in a screen-high flex box, which cuts off the top of a page taller
    than the screen (seen in chromium): profiles/default applies a stylesheet that aligns it `safe center`."""
    import yaml

    profile = yaml.safe_load((repo_root / "profiles" / "default" / "config.yaml").read_text())
    css = (repo_root / profile["report-stylesheet"]).read_text()
    assert "align-items: safe center" in css and ".h-screen.items-center" in css


def test_unknown_item():
    with pytest.raises(CaptionError, match="no report item"):
        report_item("table99")
    assert report_item("table3").wildcards == ("dataset",)
