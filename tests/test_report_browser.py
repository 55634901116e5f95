import base64
import subprocess
import textwrap

import numpy as np
import pytest
from PIL import Image

from report_browser import probe_snakemake_report, render, report_data


def _png_ok(path, min_w, min_h):
    with Image.open(path) as img:
        img.load()
        assert img.format == "PNG" and img.size[0] >= min_w and img.size[1] >= min_h
        return np.asarray(img.convert("L"))


def test_render_small_page(tmp_path):
    buf = tmp_path / "dot.png"
    Image.new("RGB", (40, 30), (10, 120, 200)).save(buf)
    data = base64.b64encode(buf.read_bytes()).decode()
    page = tmp_path / "page.html"
    page.write_text(textwrap.dedent(f"""\
        <!doctype html><html><body style="background:white">
        <h1>Table 3 (k400)</h1>
        <table id="t3"><tr><th>model</th><th>top1 [%]</th></tr><tr><td>e3d-s</td><td>47.10</td></tr></table>
        <img id="fig" src="data:image/png;base64,{data}" width="400" height="300">
        <script>
          setTimeout(function () {{
            const p = document.createElement("p"); p.id = "late";
            p.textContent = "rendered by script, image " + document.getElementById("fig").naturalWidth + "px";
            document.body.appendChild(p);
          }}, 300);
        </script></body></html>"""))
    out = render(page, tmp_path / "shots", width=800, height=600)
    assert '<table id="t3">' in out.dom and "<td>47.10</td>" in out.dom
    assert "rendered by script, image 40px" in out.text()  # scripts ran, the data-URI image decoded
    pixels = _png_ok(out.screenshot, 800, 600)
    assert pixels.std() > 5  # not a blank page


TOY_SNAKEFILE = """\
import pandas as pd
from e3d.tables.compare import compare_with_paper
from e3d.tables.paper import load_paper_table
from e3d.tables.write import table_provenance, write_table
from e3d.tables import figures

report: "{root}/workflow/report/workflow.rst"

rule all:
    input: "results/table3_k400.csv", "results/table3_k400.html", "results/fig5_accuracy_vs_gflops_k400.png"

rule table3:
    output:
        csv=report("results/table3_{{dataset}}.csv", caption="{root}/workflow/report/table3.rst",
                   category="Tables", subcategory="Table 3", labels={{"table": "Table 3 (csv)", "dataset": "{{dataset}}"}}),
        html=report("results/table3_{{dataset}}.html", caption="{root}/workflow/report/table3.rst",
                    category="Tables", subcategory="Table 3", labels={{"table": "Table 3", "dataset": "{{dataset}}"}}),
    params: device="cpu (toy)", views="3x10", flops_convention="fvcore MACs"
    run:
        ours = pd.DataFrame({{"model": ["E3D-M"], "gflops": [4.6], "top1": [12.5]}})
        out = compare_with_paper(ours, load_paper_table("table3"), paper_columns=["gflops", "views", "top1"])
        write_table(out, output.csv, table_provenance(dict(params)), caption="toy table 3")

rule fig5:
    output:
        report("results/fig5_accuracy_vs_gflops_{{dataset}}.png", caption="{root}/workflow/report/fig5_accuracy_vs_gflops.rst",
               category="Figures", subcategory="Figure 5", labels={{"figure": "Figure 5", "dataset": "{{dataset}}"}})
    params: device="cpu (toy)", views="1x1", flops_convention="fvcore MACs"
    run:
        t = load_paper_table("table3").assign(family=lambda f: f["method"])
        figures.accuracy_vs_gflops(t, output[0])
"""


@pytest.mark.slow
def test_snakemake_report_holds_every_table_and_figure(tmp_path, repo_root, cli_env):
    work = tmp_path / "toy"
    work.mkdir()
    (work / "Snakefile").write_text(TOY_SNAKEFILE.format(root=repo_root))
    (work / "config.yaml").write_text("tables:\n  datasets: [k400]\n  seed: 7\n")
    base = ["snakemake", "--configfile", "config.yaml", "-c1"]
    for args in ([], ["--report", "report.html"]):
        done = subprocess.run(base + args, cwd=work, env=cli_env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
    report = work / "report.html"

    # static: every report() output is embedded with its bytes and its rendered caption
    results, categories = report_data(report)
    expected = {"results/table3_k400.csv": "text/csv", "results/table3_k400.html": "text/html",
                "results/fig5_accuracy_vs_gflops_k400.png": "image/png"}
    assert {p: r["mime_type"] for p, r in results.items()} == expected
    for path, entry in results.items():
        payload = base64.b64decode(entry["data_uri"].split("base64,", 1)[1])
        assert payload == (work / path).read_bytes()
        assert "{{" not in entry["caption"] and "dataset k400" in entry["caption"].replace("\n", " ")
    assert "cpu (toy)" in results["results/table3_k400.csv"]["caption"]
    assert categories == {"Tables": {"Table 3": ["results/table3_k400.csv", "results/table3_k400.html"]},
                          "Figures": {"Figure 5": ["results/fig5_accuracy_vs_gflops_k400.png"]}}

    # in the browser: the app lists both categories, and every figure and HTML table is displayed
    probe, rendered = probe_snakemake_report(report, tmp_path / "browser")
    assert probe["errors"] == []
    assert set(probe["categories"]) == {"Tables", "Figures"}
    # with labels, the navigation lists results by their label values (without, by file name)
    assert "Table 3\tk400" in probe["categories"]["Tables"] and "Table 3 (csv)" in probe["categories"]["Tables"]
    assert "Figure 5\tk400" in probe["categories"]["Figures"]
    fig = probe["shown"]["results/fig5_accuracy_vs_gflops_k400.png"]
    assert fig["present"] and fig["width"] > 300 and fig["height"] > 200
    assert probe["shown"]["results/table3_k400.html"]["present"]
    assert "Configuration used" in rendered.text() or "Configuration used" in rendered.dom
    _png_ok(rendered.screenshot, 1280, 900)
