"""The search rules under a real snakemake run (a tiny config; the rule file is included as the Snakefile does)."""

import subprocess
import sys

import yaml

from e3d.artifacts import read_json, read_parquet


def test_search_rules_run_and_rerun_only_on_change(tmp_path, repo_root, cli_env):
    cfg = {
        "work_dir": str(tmp_path / "work"), "logs_dir": str(tmp_path / "logs"), "results_dir": str(tmp_path / "res"),
        "search": {
            "threads": 2, "lanes": 4, "sync_every": 200, "topk": 3,
            "x3d_kernel_variants": {"enabled": False},
            "runs": {
                "tiny": {"budget_gflops": 0.5, "max_layers": 41, "resolution": 112, "frames": 8,
                         "iterations": 3000, "population": 32},
                "tiny_homo": {"score": "homoentr", "kernels": "1x3x3,3x3x3", "budget_gflops": 0.5,
                              "max_layers": 41, "resolution": 112, "frames": 8, "iterations": 3000,
                              "population": 32, "seed": 2},
            },
        },
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(
        "from e3d.config import validate_config\n"
        f"configfile: '{tmp_path / 'config.yaml'}'\n"
        "validate_config(config)\n"
        f"include: '{repo_root / 'workflow/rules/common.smk'}'\n"
        f"include: '{repo_root / 'workflow/rules/search.smk'}'\n"
        "rule all:\n    input: TARGETS.all\n    default_target: True\n"
    )
    cmd = [sys.executable, "-m", "snakemake", "-s", str(snakefile), "--directory", str(tmp_path), "--cores", "2",
           "--quiet", "all"]
    p = subprocess.run(cmd, capture_output=True, text=True, env=cli_env, timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    work = tmp_path / "work" / "search"
    for run, kind in (("tiny", "stentr"), ("tiny_homo", "homoentr")):
        arch = read_json(work / run / "arch.json", schema="e3d.search.arch")
        assert arch["score_kind"] == kind and arch["macs"] <= 0.5e9 and arch["layers"] <= 41
        assert arch["spec"]["name"] == run
        assert len(read_json(work / run / "topk.json")["entries"]) == 3
        assert len(read_parquet(work / run / "trace.parquet")) >= 1
        assert (tmp_path / "logs" / "search" / f"{run}.log").exists()
        assert (work / ".state" / run / "search_state.json").exists()
    homo = read_json(work / "tiny_homo" / "arch.json")
    assert {tuple(b["kernel"]) for b in homo["spec"]["blocks"]} <= {(1, 3, 3), (3, 3, 3)}
    # nothing changed: nothing reruns
    dry = subprocess.run(cmd[:-2] + ["-n", "all"], capture_output=True, text=True, env=cli_env, timeout=120)
    assert "Nothing to be done" in dry.stdout + dry.stderr
