"""The data rules under the real snakemake: a tiny config end to end, then nothing reruns."""

import subprocess
import sys

import pytest
import yaml

from smk import run_locally

from e3d.data.store import FrameStore

pytestmark = pytest.mark.slow




def tiny_config(tmp_path, quality=85):
    cfg = {
        "work_dir": str(tmp_path / "work"), "logs_dir": str(tmp_path / "logs"), "results_dir": str(tmp_path / "res"),
        "data": {"threads": 2, "datasets": {"synthetic": {
            "format": "synthetic",
            "synth": {"classes": 2, "clips_per_class": 3, "min_side": 32, "max_side": 40, "min_seconds": 1,
                      "max_seconds": 1.5},
            "extract": {"short_side": 24, "shards": 2, "quality": quality},
        }}},
    }
    path = tmp_path / f"tiny-{quality}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_synth_index_extract_then_nothing_reruns(tmp_path, repo_root, cli_env):
    cfg = tiny_config(tmp_path)
    manifest = tmp_path / "work" / "data" / "synthetic" / "frames" / "manifest.json"
    out = run_locally(repo_root, cli_env, str(manifest), "--configfile", str(cfg))
    assert out.returncode == 0, out.stderr[-3000:]
    for name in ("synth.log", "index.log", "extract.log", "extract.benchmark.tsv"):
        assert (tmp_path / "logs" / "data" / "synthetic" / name).is_file(), name
    assert "6 of 6 videos usable" in (tmp_path / "logs" / "data" / "synthetic" / "index.log").read_text()
    store = FrameStore(manifest.parent)
    assert len(store) == 6 and store.num_classes == 2
    assert (manifest.parent / "shard-00001.parquet").is_file()
    assert min(store.read_clip(store.videos.video_id[0], [0]).shape[1:3]) == 24

    again = run_locally(repo_root, cli_env, str(manifest), "--configfile", str(cfg))
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Nothing to be done" in again.stdout + again.stderr

    # changing an extraction setting reruns extraction only
    dry = run_locally(repo_root, cli_env, "-n", str(manifest), "--configfile", str(tiny_config(tmp_path, quality=70)))
    assert dry.returncode == 0, dry.stderr[-3000:]
    text = dry.stdout + dry.stderr
    assert "extract_synthetic" in text and "rule index" not in text and "rule synth" not in text


def test_lint_is_clean(repo_root, cli_env):
    out = subprocess.run([sys.executable, "-m", "snakemake", "--lint"], cwd=repo_root, capture_output=True, text=True,
                         env=cli_env, timeout=120)
    assert out.returncode == 0 and "Congratulations" in out.stdout + out.stderr, out.stdout + out.stderr
