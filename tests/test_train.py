"""Training machinery on the CPU with a tiny in-memory clip source and a tiny model.

The subprocess tests run tests/test_train.py itself as a driver (`python tests/test_train.py ARGS`), so the
same tiny source and model are used under torchrun and after a real SIGKILL.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn as nn

from e3d.train import checkpoint, model_source
from e3d.train.clips import EpochSampler
from e3d.train.loop import TrainingDiverged, train
from e3d.train.optim import lr_factor, make_optimizer, param_groups
from e3d.train.settings import SettingsError, TrainSettings

HERE = Path(__file__).resolve()
DIRECTIONS = [(0, 1), (0, -1), (1, 0), (-1, 0)]  # class = direction of a moving bright square


class TinySource:
    """Frame-store stand-in: 4 classes of a square moving right/left/down/up on noise, 24x20 frames."""

    def __init__(self, n_per_class: int = 6, frames: int = 12, seed: int = 0, delay: float = 0.0):
        rows = []
        for c in range(4):
            for i in range(n_per_class):
                rows.append({"video_id": f"v{c}_{i}", "label": c, "split": "train" if i < n_per_class - 2 else "val",
                             "num_frames": frames})
        self.videos = pd.DataFrame(rows)
        self.num_classes = 4
        self.class_names = ["right", "left", "down", "up"]
        self.seed, self.delay, self.frames = seed, delay, frames

    def read_clip(self, video_id, indices):
        if self.delay:
            time.sleep(self.delay)
        c, i = (int(p) for p in video_id[1:].split("_"))
        rng = np.random.default_rng([self.seed, c, i])
        h, w = 20, 24
        dy, dx = DIRECTIONS[c]
        y0, x0 = int(rng.integers(6, 12)), int(rng.integers(6, 14))
        out = rng.integers(0, 40, size=(len(indices), h, w, 3), dtype=np.uint8)
        for k, t in enumerate(np.asarray(indices)):
            y, x = (y0 + dy * int(t)) % (h - 4), (x0 + dx * int(t)) % (w - 4)
            out[k, y : y + 4, x : x + 4] = 255
        return out


class TinyNet(nn.Module):
    def __init__(self, num_classes: int, width: int = 8, dropout: float = 0.0, nan_after: int = -1):
        super().__init__()
        self.conv = nn.Conv3d(3, width, 3, padding=1)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(width, num_classes))
        self.nan_after, self.calls = nan_after, 0

    def forward(self, x):
        self.calls += 1
        y = torch.relu(self.conv(x)).amax(dim=(2, 3, 4))
        y = self.head(y)
        if 0 <= self.nan_after < self.calls:
            y = y * float("nan")
        return y


model_source.register_builder("tiny", lambda rec, n: TinyNet(n, rec.get("width", 8), rec.get("dropout", 0.0),
                                                             rec.get("nan_after", -1)))

BASE = dict(epochs=2, batch_size=4, lr=0.01, warmup_epochs=0.5, frames=4, crop=16, num_workers=0,
            checkpoint_every=0, deterministic=True, short_side_scale=[1.0, 1.2], flip=False)


def _weights(path):
    return torch.load(path, weights_only=True)["model"]


# ---- units ----
def test_lr_schedule_warms_up_linearly_then_follows_a_cosine_to_zero():
    assert lr_factor(0, 100, 10) == pytest.approx(0.1)
    assert lr_factor(9, 100, 10) == pytest.approx(1.0)
    assert lr_factor(10, 100, 10) == pytest.approx(1.0)
    assert lr_factor(55, 100, 10) == pytest.approx(0.5)
    assert lr_factor(100, 100, 10) == pytest.approx(0.0, abs=1e-12)


def test_no_weight_decay_on_norms_and_biases():
    m = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), nn.Flatten(), nn.Linear(4, 2))
    decay, none = param_groups(m, 5e-5)
    assert decay["weight_decay"] == 5e-5 and none["weight_decay"] == 0.0
    assert {id(p) for p in decay["params"]} == {id(m[0].weight), id(m[3].weight)}
    assert len(none["params"]) == 4  # conv bias, bn weight, bn bias, linear bias


def test_optimizer_setting_picks_sgd_or_adamw_with_the_same_decay_groups():
    m = nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4))
    sgd = make_optimizer(m, TrainSettings.from_dict({"lr": 0.05, "momentum": 0.8}))
    assert isinstance(sgd, torch.optim.SGD) and sgd.param_groups[0]["momentum"] == 0.8
    adamw = make_optimizer(m, TrainSettings.from_dict({"optimizer": "adamw", "lr": 0.002, "weight_decay": 0.05}))
    assert isinstance(adamw, torch.optim.AdamW)
    assert [g["weight_decay"] for g in adamw.param_groups] == [0.05, 0.0]
    with pytest.raises(SettingsError, match="optimizer must be one of"):
        TrainSettings.from_dict({"optimizer": "adam"})


def test_sampler_splits_one_global_order_between_ranks():
    one = list(EpochSampler(10, 4, 1, 0, seed=3, epoch=1))
    two = [list(EpochSampler(10, 2, 2, r, seed=3, epoch=1)) for r in range(2)]
    assert len(one) == 8  # 2 full global batches of 4, the remainder dropped
    for step in range(2):
        assert one[4 * step : 4 * step + 4] == two[0][2 * step : 2 * step + 2] + two[1][2 * step : 2 * step + 2]
    assert list(EpochSampler(10, 4, 1, 0, seed=3, epoch=1, start_step=1)) == one[4:]


def test_settings_reject_unknown_keys_and_bad_values():
    with pytest.raises(SettingsError, match="unknown key"):
        TrainSettings.from_dict({"epoch": 3})
    with pytest.raises(SettingsError, match="batch_size"):
        TrainSettings.from_dict({"batch_size": 0})
    with pytest.raises(SettingsError, match="flip"):
        TrainSettings.from_dict({"flip": "no"})
    with pytest.raises(SettingsError, match="sampling must be one of"):
        TrainSettings.from_dict({"sampling": "tsn"})
    assert TrainSettings.from_dict({"frames": 8, "sampling": "segments"}).sampling == "segments"


# ---- the loop in-process ----
def test_a_few_steps_reduce_the_loss_and_outputs_load_weights_only(tmp_path):
    s = TrainSettings.from_dict({**BASE, "epochs": 6, "lr": 0.02, "batch_size": 4})
    res = train(TinySource(), {"kind": "tiny", "width": 8}, s, tmp_path / "out", tmp_path / "state")
    losses = [r["loss"] for r in res.metrics]
    assert losses[-1] < 0.8 * losses[0], losses
    ckpt = torch.load(res.model_path, weights_only=True)
    assert ckpt["record"] == {"kind": "tiny", "width": 8} and ckpt["class_names"][0] == "right"
    state = torch.load(tmp_path / "state" / "last.pt", weights_only=True)
    assert state["epoch"] == 6 and state["step_in_epoch"] == 0
    metrics = pd.read_parquet(res.metrics_path)
    assert list(metrics["epoch"]) == list(range(6))
    assert {"loss", "accuracy", "lr", "clips_per_s"} <= set(metrics.columns)
    assert (metrics["clips"] == 16).all()


def test_non_finite_loss_stops_with_a_clear_error_and_keeps_the_last_good_checkpoint(tmp_path):
    s = TrainSettings.from_dict({**BASE, "epochs": 3, "checkpoint_every": 2})
    with pytest.raises(TrainingDiverged, match="non-finite loss at epoch 1, step 1 .*last good checkpoint kept"):
        train(TinySource(), {"kind": "tiny", "nan_after": 5}, s, tmp_path / "out", tmp_path / "state")
    state = checkpoint.load(tmp_path / "state" / "last.pt")
    assert state["global_step"] == 4 and all(torch.isfinite(v).all() for v in state["model"].values())
    assert not (tmp_path / "out" / "model.pt").exists()


def test_state_from_other_settings_is_not_resumed(tmp_path, capsys):
    s = TrainSettings.from_dict({**BASE, "epochs": 1})
    train(TinySource(), {"kind": "tiny"}, s, tmp_path / "out", tmp_path / "state")
    s2 = TrainSettings.from_dict({**BASE, "epochs": 1, "lr": 0.005})
    res = train(TinySource(), {"kind": "tiny"}, s2, tmp_path / "out", tmp_path / "state")
    assert res.resumed_from_step == 0
    assert "ignoring" in capsys.readouterr().err


# ---- real processes ----
def _driver(tmp_path, name, **over):
    cfg = {"settings": {**BASE, **over.pop("settings", {})}, "record": over.pop("record", {"kind": "tiny"}),
           "out": str(tmp_path / name / "out"), "state": str(tmp_path / name / "state"), **over}
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(cfg))
    return p


def _env(cli_env, threads=1):
    env = dict(cli_env)
    env["OMP_NUM_THREADS"] = str(threads)
    return env


def test_two_process_gloo_ddp_makes_the_same_update_as_one_process(tmp_path, cli_env):
    settings = {"epochs": 1, "warmup_epochs": 0.0}
    one = _driver(tmp_path, "one", settings={**settings, "batch_size": 4})
    two = _driver(tmp_path, "two", settings={**settings, "batch_size": 2})
    subprocess.run([sys.executable, str(HERE), str(one)], check=True, env=_env(cli_env), timeout=120)
    r = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        str(HERE), str(two)], env=_env(cli_env), timeout=180, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "2 process(es)" in r.stderr
    a, b = _weights(tmp_path / "one/out/model.pt"), _weights(tmp_path / "two/out/model.pt")
    start = TinyNet(4)
    torch.manual_seed(0)
    assert any(not torch.equal(a[k], v) for k, v in TinyNet(4).state_dict().items())  # it did train
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6)
    del start


def test_kill_and_resume_gives_bit_identical_weights(tmp_path, cli_env):
    settings = {"epochs": 3, "checkpoint_every": 2}
    record = {"kind": "tiny", "dropout": 0.3}
    ref = _driver(tmp_path, "ref", settings=settings, record=record)
    killed = _driver(tmp_path, "killed", settings=settings, record=record, delay=0.05)
    subprocess.run([sys.executable, str(HERE), str(ref)], check=True, env=_env(cli_env), timeout=120)

    proc = subprocess.Popen([sys.executable, str(HERE), str(killed)], env=_env(cli_env), stderr=subprocess.DEVNULL)
    state_path = tmp_path / "killed/state/last.pt"
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:  # kill mid-epoch 1, right after its first mid-epoch checkpoint
            if state_path.exists() and checkpoint.load(state_path)["global_step"] >= 6:
                break
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    st = checkpoint.load(state_path)
    assert proc.returncode == -signal.SIGKILL and not (tmp_path / "killed/out/model.pt").exists()
    assert st["epoch"] == 1 and 0 < st["step_in_epoch"] < 4, (st["epoch"], st["step_in_epoch"])

    out = subprocess.run([sys.executable, str(HERE), str(killed)], env=_env(cli_env), timeout=120,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "resuming from" in out.stderr
    a, b = _weights(tmp_path / "ref/out/model.pt"), _weights(tmp_path / "killed/out/model.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    ma, mb = pd.read_parquet(tmp_path / "ref/out/metrics.parquet"), pd.read_parquet(tmp_path / "killed/out/metrics.parquet")
    pd.testing.assert_series_equal(ma["loss"], mb["loss"])
    pd.testing.assert_series_equal(ma["accuracy"], mb["accuracy"])


def _main(cfg_path: str) -> None:
    cfg = json.loads(Path(cfg_path).read_text())
    source = TinySource(delay=cfg.get("delay", 0.0))
    train(source, cfg["record"], TrainSettings.from_dict(cfg["settings"]), cfg["out"], cfg["state"])


if __name__ == "__main__":
    _main(sys.argv[1])
