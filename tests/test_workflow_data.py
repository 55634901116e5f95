"""The data rules under the real snakemake: a tiny config end to end, then nothing reruns."""

import subprocess
import sys

import pytest

from smk import run_locally
from workflow_config import tiny_data, tiny_dirs, write_config

from e3d.data.store import FrameStore

pytestmark = pytest.mark.slow




def tiny_config(tmp_path, quality=85):
    cfg = {**tiny_dirs(tmp_path),
           "data": tiny_data(threads=2, synth={"clips_per_class": 3, "min_seconds": 1, "max_seconds": 1.5},
                             extract={"short_side": 24, "shards": 2, "quality": quality})}
    return write_config(tmp_path / f"tiny-{quality}.yaml", cfg)


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
