"""The baselines stage's workflow helpers and what it added to the search: every registered score selectable by
`e3d search` and the config (with checked options), forward-score searches end to end, the derived Table 7 runs
and study models, and the Table 7 builder."""

from __future__ import annotations

import copy
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from e3d.artifacts import Provenance, write_json, write_parquet
from e3d.baselines.workflow import BaselinesConfig, BaselinesConfigError
from e3d.config import load_config, load_schema, validate_config
from e3d.errors import E3DError
from e3d.score import registry
from e3d.search.engine import SearchConfig, run_search
from e3d.search.outputs import write_outputs
from e3d.search.workflow import search_cli_args, search_code_stage
from e3d.tables.build import build
from e3d.train.workflow import TrainConfig

REPO = Path(__file__).resolve().parents[1]


def default_config(**over) -> dict:
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for k, v in over.items():
        cfg[k] = v
    return validate_config(cfg)


# -- every registered score, in the CLI, the schemas and the search -------------------------------------------


def test_every_registered_score_is_selectable_everywhere():
    import argparse

    from e3d.commands import search as search_cmd

    names = set(registry.names())
    assert {"stentr", "homoentr", "zen", "madet", "forward"} <= names
    schema = load_schema()
    run_schema = schema["properties"]["search"]["properties"]["runs"]["additionalProperties"]
    assert set(run_schema["properties"]["score"]["enum"]) == names
    assert set(schema["properties"]["baselines"]["properties"]["fig3"]["properties"]["scores"]["items"]["enum"]) == names
    parser = argparse.ArgumentParser()
    search_cmd.add_arguments(parser)
    args = parser.parse_args(["--max-layers", "83", "--resolution", "160", "--frames", "13",
                              "--iterations", "5", "--out", "x", "--score", "madet"])
    assert args.score == "madet"
    with pytest.raises(SystemExit):
        parser.parse_args(["--max-layers", "83", "--resolution", "160", "--frames", "13",
                           "--iterations", "5", "--out", "x", "--score", "nope"])


def test_score_options_are_checked():
    assert registry.check_score_options("zen", {"batch_size": 1, "device": "cpu"}) == {"batch_size": 1, "device": "cpu"}
    assert registry.check_score_options("stentr", {}) == {}
    with pytest.raises(E3DError, match="unknown option.*bogus.*zen"):
        registry.check_score_options("zen", {"bogus": 1})
    with pytest.raises(E3DError, match="analytic score and takes no options"):
        registry.check_score_options("stentr", {"repeats": 1})
    with pytest.raises(E3DError, match="unknown option"):
        SearchConfig(max_layers=83, resolution=32, frames=4, iterations=2, population=2, seed=0, budget_gflops=1.0,
                     score="madet", score_options={"repeat": 1})
    assert registry.score_device("stentr") == "cpu"
    assert registry.score_device("zen", {"device": "cpu"}) == "cpu"


def _forward_search(tmp_path, seed=0, workers=1, name="zen"):
    cfg = SearchConfig(max_layers=83, resolution=32, frames=4, iterations=6, population=4, seed=seed,
                       budget_gflops=0.05, score=name, lanes=2, sync_every=3,
                       score_options={"batch_size": 1, "repeats": 1})
    return run_search(cfg, tmp_path / f"state-{seed}-{workers}.json", workers=workers, progress=False)


def test_forward_score_search_end_to_end_is_seeded_and_recorded(tmp_path):
    a = _forward_search(tmp_path)
    b = _forward_search(tmp_path / "again")
    assert a.population == b.population  # same seed, same result
    assert a.evaluated > 0 and all(e[2] <= 0.05e9 for e in a.population)
    # the forward score is the one ranking the population, not the analytic evaluator beneath it
    best = a.space.spec_from_genome(a.best[1]).with_input(32, 4)
    again = registry.score("zen", best, 32, 4, batch_size=1, repeats=1, seed=0)
    assert a.best[0] == pytest.approx(again, rel=1e-5)
    info = write_outputs(a, tmp_path / "out", name="table7_zen")
    doc = json.loads((tmp_path / "out" / "arch.json").read_text())
    assert info["score_kind"] == "zen" and doc["summary"]["score_device"] == "cpu"
    assert doc["search"]["score_options"] == {"batch_size": 1, "repeats": 1}


def test_cli_search_with_a_forward_score(tmp_path, cli_env):
    def run(*extra):
        return subprocess.run([sys.executable, "-m", "e3d.cli", "search", "--budget-gflops", "0.05", "--max-layers",
                               "83", "--resolution", "32", "--frames", "4", "--iterations", "3", "--population", "2",
                               "--lanes", "1", "--workers", "1", "--quiet", "--out", str(tmp_path / "o"), *extra],
                              capture_output=True, text=True, env=cli_env, timeout=120)

    r = run("--score", "madet", "--score-options", '{"batch_size": 1, "repeats": 1}')
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout.strip().splitlines()[-1])["score_kind"] == "madet"
    r = run("--score", "madet", "--score-options", "[1]")
    assert r.returncode == 2 and "--score-options must be a JSON object" in r.stderr


def test_search_cli_args_and_code_stage():
    cfg = default_config()
    base = BaselinesConfig(cfg)
    runs = {**cfg["search"]["runs"], **base.search_runs()}
    args = shlex.split(search_cli_args(cfg["search"], "table7_zen", runs))
    assert args[args.index("--score") + 1] == "zen"
    assert json.loads(args[args.index("--score-options") + 1]) == {"batch_size": 1, "repeats": 1}
    assert "--score-options" not in search_cli_args(cfg["search"], "s")
    assert search_code_stage(runs["table7_zen"]) == "search_forward"
    assert search_code_stage(runs["s"]) == "search"
    from e3d.provenance import STAGE_MODULES

    assert "models" in STAGE_MODULES["baselines"] and "models" in STAGE_MODULES["search_forward"]
    assert "models" not in STAGE_MODULES["search"]  # analytic searches do not rerun when the builder changes


# -- derived runs and models ----------------------------------------------------------------------------------


def test_table7_runs_share_the_base_run_and_differ_by_score():
    cfg = default_config()
    runs = BaselinesConfig(cfg).search_runs()
    assert sorted(runs) == ["table7_homoentr", "table7_madet", "table7_stentr", "table7_zen"]
    base = cfg["search"]["runs"][cfg["baselines"]["table7"]["base_run"]]
    # the main comparison searches at the very input the models are trained on
    assert (base["resolution"], base["frames"]) == (cfg["train"]["settings"]["crop"], cfg["train"]["settings"]["frames"])
    for name, run in runs.items():
        assert run["score"] == name.split("_", 1)[1]
        assert run["iterations"] == cfg["baselines"]["table7"]["iterations"]
        assert run["population"] == cfg["baselines"]["table7"]["population"]
        for key in ("budget_gflops", "max_layers", "resolution", "frames", "kernels", "seed"):
            assert run[key] == base[key], key
    assert runs["table7_stentr"]["score_options"] == {}
    SearchConfig(**{k: v for k, v in runs["table7_zen"].items() if k != "space"})  # a valid search


def test_table7_entrants_each_trained_once_per_seed_under_one_schedule():
    cfg = default_config()
    before = copy.deepcopy(cfg["models"])
    base = BaselinesConfig(cfg)
    training = TrainConfig(cfg)
    own = training.targets()
    training.add_models(base.train_models())
    assert cfg["models"] == before  # derived models never leak into the configured ones (tables use those)
    assert training.targets() == own
    entrants = base.table7_entrants()
    assert list(entrants) == ["stentr", "homoentr", "zen", "madet", "x3d-depth", "random-0", "random-1", "random-2"]
    assert [e["kind"] for e in entrants.values()] == ["searched"] * 4 + ["x3d"] + ["random"] * 3
    seeds = cfg["baselines"]["table7"]["seeds"]
    assert len(seeds) >= 2
    models = base.table7_models()
    assert models["zen"] == [f"table7-zen-seed{s}" for s in seeds]
    schedules = set()
    for entrant, names in models.items():
        for seed, name in zip(seeds, names):
            settings = training.settings("synthetic", name)
            assert settings["seed"] == seed
            schedules.add(json.dumps({k: v for k, v in settings.items() if k != "seed"}, sort_keys=True))
    assert len(schedules) == 1  # one schedule for every model of the comparison
    assert training.arch_inputs("table7-zen-seed0") == [f"{cfg['work_dir']}/search/table7_zen/arch.json"]
    assert training.arch_inputs("table7-x3d-depth-seed1") == [
        f"{cfg['work_dir']}/baselines/table7/specs/x3d-depth.json"]
    assert training.arch_inputs("table7-random-2-seed0") == [f"{cfg['work_dir']}/baselines/table7/specs/random-2.json"]
    hand = BaselinesConfig(default_config(baselines={**cfg["baselines"], "table7": {
        **cfg["baselines"]["table7"], "baseline_model": "e3d-initial-t3"}}))
    assert hand.table7_entrants()["e3d-initial-t3"]["kind"] == "hand-designed"
    assert hand.train_models()["table7-e3d-initial-t3-seed1"]["arch"] == "spec:config/archs/e3d-initial-t3.json"
    assert "--se-ratio" not in training.model_flags("table7-x3d-depth-seed0")  # X3D keeps its own SE pattern
    assert "--se-ratio 0.0" in training.model_flags("table7-zen-seed0")
    assert base.fig3_models() == [f"fig3-{i:03d}" for i in range(16)]
    assert training.arch_inputs("fig3-002") == [f"{cfg['work_dir']}/baselines/fig3/specs/fig3-002.json"]
    assert base.run_models()["table7_homoentr"] == [f"table7-homoentr-seed{s}" for s in seeds]
    with pytest.raises(ValueError, match="both configured and derived"):
        training.add_models({"e3d-initial-t3": {"arch": "builtin:e3d-initial"}})


def test_table7_long_schedule_trains_the_same_entrants_again_under_longer_settings():
    cfg = default_config()
    base = BaselinesConfig(cfg)
    training = TrainConfig(cfg)
    training.add_models(base.train_models())
    long_epochs = cfg["baselines"]["table7"]["long_settings"]["epochs"]
    assert long_epochs > training.settings("synthetic", "table7-zen-seed0")["epochs"]
    assert base.table7_schedules() == ["", "long"]
    for entrant, names in base.table7_models("long").items():
        for main_name, long_name in zip(base.table7_models()[entrant], names):
            assert long_name == main_name.replace("table7-", "table7long-", 1)
            assert training.arch_inputs(long_name) == training.arch_inputs(main_name)
            main_s, long_s = training.settings("synthetic", main_name), training.settings("synthetic", long_name)
            assert long_s["epochs"] == long_epochs
            assert {k: v for k, v in long_s.items() if k != "epochs"} == {k: v for k, v in main_s.items()
                                                                           if k != "epochs"}
    params = base.table7_params("synthetic", schedule="long")
    assert params["entrants"][0]["models"] == ["table7long-stentr-seed0", "table7long-stentr-seed1"]
    assert json.loads(params["settings"])["epochs"] == long_epochs
    assert base.table7_inputs("synthetic", schedule="long")["evals"][0].endswith("table7long-stentr-seed0/multiview.metrics.json")
    # the main table's pattern table7_training_free_{dataset} must not also match the long one's file
    assert base.table7_stem() == "table7_training_free" and not base.table7_stem("long").startswith(
        base.table7_stem() + "_")
    (paths, study), = [t for t in base.targets() if "table7long_" in t[0][0]]
    assert paths[0].endswith("table7long_training_free_synthetic.csv") and study == "table7_long"
    # the default's Figure 3 and the study's configured models train with this same long schedule (one YAML
    # anchor in config/config.yaml); the configured models with train.settings' seed, as the main comparison's
    long_zen = training.settings("synthetic", "table7long-zen-seed0")
    assert training.settings("synthetic", "fig3-000") == long_zen
    for model in cfg["study"]["models"]:
        settings = training.settings("synthetic", model)
        if model == "darts-synthetic":  # TSN snippets of frames as far apart as the DARTS search's
            from e3d.darts.workflow import DartsConfig
            assert settings["sample_rate"] == DartsConfig(cfg).settings("synthetic")["sample_rate"] > 1
            settings = {**settings, "sample_rate": long_zen["sample_rate"]}
        assert settings == long_zen, model
    none = BaselinesConfig(default_config(baselines={**cfg["baselines"], "table7": {
        **cfg["baselines"]["table7"], "long_settings": None}}))
    assert none.table7_schedules() == [""] and not any("table7long-" in m for m in none.train_models())


def test_table7_generated_entrants_command_lines():
    base = BaselinesConfig(default_config())
    run = base.table7_base
    args = shlex.split(base.x3d_args("depth"))
    assert args[args.index("--budget-gflops") + 1] == str(run["budget_gflops"])
    assert args[args.index("--expand") + 1] == "depth"
    rnd = shlex.split(base.random_args())
    assert rnd[rnd.index("--n") + 1] == "3" and rnd[rnd.index("--bins") + 1] == "1"
    assert float(rnd[rnd.index("--gflops-max") + 1]) == run["budget_gflops"]
    assert rnd[rnd.index("--max-layers") + 1] == str(run["max_layers"])
    assert rnd[rnd.index("--name-format") + 1] == "random-{index}"


def test_targets_and_params():
    cfg = default_config()
    base = BaselinesConfig(cfg)
    res = cfg["results_dir"]
    assert base.targets() == [([f"{res}/fig4_forward_vs_analytic.png"], None),
                              ([f"{res}/fig3_correlation_synthetic.png"], "fig3"),
                              ([f"{res}/table7_training_free_synthetic.csv"], None),
                              ([f"{res}/table7long_training_free_synthetic.csv"], "table7_long")]
    evals = base.table7_evals()
    assert len(evals) == 8 * len(cfg["baselines"]["table7"]["seeds"])
    assert evals[0] == f"{cfg['work_dir']}/eval/synthetic/table7-stentr-seed0/multiview.metrics.json"
    inputs = base.table7_inputs()
    assert len(inputs["single"]) == len(evals) and len(inputs["trained_archs"]) == 8
    p = base.fig3_params()
    assert {"device", "flops_convention", "n_models", "method", "confidence", "n_boot"} <= set(p)
    assert "--repeats 100" in base.fig4_args()
    off = default_config(baselines={"fig4": {"enabled": False}, "fig3": {"enabled": False},
                                    "table7": {"enabled": False}})
    b = BaselinesConfig(off)
    assert b.targets() == [] and b.train_models() == {} and b.search_runs() == {}


def test_paper_config_names_the_paper_studies():
    base = BaselinesConfig(load_config(REPO / "config" / "config.yaml", REPO / "config" / "paper.yaml"))
    assert base.fig3["n"] == 60 and (base.fig3["gflops_min"], base.fig3["gflops_max"]) == (0.2, 5.0)
    assert base.fig4["repeats"] == 1000
    assert base.fig3_dataset == "sthv1" and base.table7_dataset == "sthv1"
    assert base.table7["baseline_model"] == "x3d-s"
    assert base.table7_schedules() == [""]  # no long schedule: the paper trains Table 7 once


@pytest.mark.parametrize("over, match", [
    ({"table7": {"base_run": "nope"}}, "base_run 'nope' is not a search run"),
    ({"table7": {"baseline_model": "nope"}}, "baseline_model 'nope' is not in models"),
    ({"table7": {"score_options": {"zen": {"bogus": 1}}}}, r"score_options.zen: unknown option"),
    ({"table7": {"scores": ["zen"], "score_options": {"madet": {}}}}, "not in baselines.table7.scores"),
    ({"fig3": {"gflops_min": 2.0, "gflops_max": 1.0}}, "gflops_min < gflops_max"),
    ({"table7": {"random": 2}}, "random is 2: 0 \\(none\\) or at least 3"),
])
def test_bad_baselines_config_fails_naming_the_key(over, match):
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for section, values in over.items():
        cfg["baselines"][section] = {**cfg["baselines"][section], **values}
    with pytest.raises(BaselinesConfigError, match=match):
        BaselinesConfig(validate_config(cfg))


# -- the Table 7 builder --------------------------------------------------------------------------------------


def _arch(path: Path, score: str, seconds: float, device: str = "cpu") -> str:
    doc = {"score_kind": score, "gflops": 1.8, "search": {"score": score, "population": 4, "kernels": "1x3x3"},
           "summary": {"score_kind": score, "best_score": 1.0, "best_gflops": 1.8, "seconds": seconds,
                       "iterations": 10, "score_device": device}}
    write_json(path / "arch.json", doc, Provenance.make("e3d.search.arch", 1, {}, ()))
    return str(path / "arch.json")


def _eval(path: Path, top1: float) -> str:
    doc = {"top1": top1, "top5": 0.9, "gflops_per_view": 0.05, "views": {"crops": 1, "clips": 1}, "frames": 8,
           "crop": 32, "params": 2e6, "gflops_total_per_video": 0.05}
    write_json(path / "multiview.metrics.json", doc, Provenance.make("e3d.eval", 1, {}, ()))
    return str(path / "multiview.metrics.json")


def _single(path: Path, top1: float) -> str:
    doc = {"top1": top1, "top5": 0.5, "gflops_per_view": 0.05, "views": {"crops": 1, "clips": 1}, "frames": 8,
           "crop": 32, "params": 2e6, "gflops_total_per_video": 0.05}
    write_json(path / "single_frame.metrics.json", doc, Provenance.make("e3d.eval", 1, {}, ()))
    return str(path / "single_frame.metrics.json")


def test_table7_builder_puts_ours_beside_the_paper(tmp_path):
    archs = [_arch(tmp_path / "search" / "table7_zen", "zen", 7200.0, "cuda:0 (Test GPU)"),
             _arch(tmp_path / "search" / "table7_stentr", "stentr", 36.0)]
    models = {"zen": ["table7-zen-seed0", "table7-zen-seed1"], "stentr": ["table7-stentr-seed0", "table7-stentr-seed1"],
              "x3d-s": ["table7-x3d-s-seed0", "table7-x3d-s-seed1"]}
    top1 = {"table7-zen-seed0": 0.5, "table7-zen-seed1": 0.4, "table7-stentr-seed0": 0.6, "table7-stentr-seed1": 0.7,
            "table7-x3d-s-seed0": 0.4, "table7-x3d-s-seed1": 0.4}
    evals = [_eval(tmp_path / "eval" / "synthetic" / m, top1[m]) for ms in models.values() for m in ms]
    single = [_single(tmp_path / "eval" / "synthetic" / m, 0.1) for ms in models.values() for m in ms]
    entrants = [{"entrant": "zen", "label": "Zen-score", "kind": "searched", "run": "table7_zen", "models": models["zen"]},
                {"entrant": "stentr", "label": "E3D-S", "kind": "searched", "run": "table7_stentr",
                 "models": models["stentr"]},
                {"entrant": "x3d-s", "label": "x3d-s", "kind": "hand-designed", "run": "", "models": models["x3d-s"]}]
    params = {"entrants": entrants, "search_device": "Test CPU", "device": "CPU", "views": "1x1",
              "flops_convention": "MACs"}
    out = tmp_path / "res" / "table7_training_free_synthetic.csv"
    metrics = []
    for ms in models.values():
        for i, m in enumerate(ms):  # training top-1 per epoch: 10 epochs, the last one 81 or 83%
            path = tmp_path / "train" / m / "metrics.parquet"
            path.parent.mkdir(parents=True)
            acc = [0.1 * e for e in range(8)] + [0.8, 0.81 if i == 0 else 0.83]
            write_parquet(path, pd.DataFrame({"epoch": range(10), "accuracy": acc}),
                          Provenance.make("e3d.train_metrics", 1, {}, ()))
            metrics.append(str(path))
    build("table7", {"archs": archs, "evals": evals, "single": single, "train_metrics": metrics}, params, str(out))
    df = pd.read_parquet(out.with_suffix(".parquet")).set_index("model")
    assert df.loc["zen-score", "design_cost_h"] == pytest.approx(2.0)
    assert df.loc["zen-score", "search_devices"] == "GPU" and df.loc["zen-score", "search_device_name"] == "Test GPU"
    assert df.loc["zen-score", "design_cost_h_paper"] == 26
    assert df.loc["zen-score", "top1"] == pytest.approx(45.0)  # mean over the seeds, with the range beside it
    assert (df.loc["zen-score", "top1_min"], df.loc["zen-score", "top1_max"]) == pytest.approx((40.0, 50.0))
    assert df.loc["zen-score", "seeds"] == 2 and df.loc["zen-score", "single_frame_top1"] == pytest.approx(10.0)
    # the last fifth's mean (80, 83) minus the fifth's before (60, 70), for the seed that moved most
    assert df.loc["zen-score", "train_top1_last_fifth_pp"] == pytest.approx(16.5)
    assert df.loc["zen-score", "train_top1"] == pytest.approx(82.0)  # the last epoch's, mean over the seeds
    assert pd.read_csv(out).columns.str.startswith("train_top1 [%]").any()
    assert df.loc["e3d-s", "design_cost_h"] == pytest.approx(0.01)
    assert df.loc["e3d-s", "search_device_name"] == "Test CPU" and df.loc["e3d-s", "top1"] == pytest.approx(65.0)
    assert df.loc["e3d-s", "top1_paper"] == 47.1
    assert df.loc["x3d-s", "top1"] == pytest.approx(40.0) and df.loc["x3d-s", "top1_paper"] == 44.6
    assert df.loc["x3d-s", "kind"] == "hand-designed"
    assert df.loc["mae-det-score", "rows"] == "paper"  # the paper's row we did not search stays, marked
    assert out.with_suffix(".html").exists()
    with pytest.raises(E3DError, match=r"table7-x3d-s-seed1"):
        build("table7", {"archs": archs, "evals": evals[:-1], "single": single}, params, str(out))


def test_stage_digests_leave_out_the_snakemake_helpers(repo_root):
    """`<subpackage>/workflow.py` only plans jobs (its decisions reach them as params and inputs, which Snakemake
    tracks): editing it must not rerun a stage, and no job's code may import it."""
    import ast

    from ast_imports import runtime_nodes

    from e3d.provenance import PACKAGE_ROOT, code_digest, is_dag_only

    files = sorted((PACKAGE_ROOT / "baselines").rglob("*.py"))
    assert PACKAGE_ROOT / "baselines" / "workflow.py" in files
    kept = [f"baselines/{p.name}" for p in files if p.name != "workflow.py"]
    assert code_digest("baselines") == code_digest(*kept)
    assert not is_dag_only(PACKAGE_ROOT / "workflow.py") and not is_dag_only(PACKAGE_ROOT / "a" / "b" / "workflow.py")

    def runtime_imports(path):
        for node in runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                yield node.module
            elif isinstance(node, ast.Import):
                yield from (a.name for a in node.names)

    job_code = [p for p in PACKAGE_ROOT.rglob("*.py") if not is_dag_only(p)] + \
        sorted((repo_root / "workflow" / "scripts").glob("*.py"))
    offenders = {str(p): m for p in job_code for m in runtime_imports(p)
                 if m.startswith("e3d.") and m.endswith(".workflow")}
    assert offenders == {}
