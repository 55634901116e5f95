"""Two training nodes on loopback: two real torchrun launchers (`--nnodes=2`, c10d rendezvous on 127.0.0.1, gloo),
against one launcher with the same world size; a node killed mid-run, then both relaunched; and the same two nodes
started by a real two-node SLURM step (two slurmd daemons on this machine, tools/slurm_local.py).

Every run uses the tiny source and model of tests/test_train.py through its driver (`python tests/test_train.py CFG`),
and each node's launcher options come from e3d.train.launch, the code the README's multi-node command runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from e3d.train import checkpoint
from e3d.train.launch import LaunchError, slurm_torchrun_args, torchrun_args
from smk import slurm_client_env
from test_train import HERE as DRIVER
from test_train import _driver, _env, _weights

TOOLS = Path(__file__).resolve().parents[1] / "tools"
# 16 training clips, 2 per process and step: 4 steps per epoch on 2 processes, a mid-epoch checkpoint every 2 steps.
# Dropout makes every rank draw from its own RNG, so a resume must restore each rank's state.
SETTINGS = {"epochs": 3, "batch_size": 2, "checkpoint_every": 2}
RECORD = {"kind": "tiny", "dropout": 0.3}
# Two one-CPU "nodes" against one launcher on both CPUs: one torch thread per process either way.
NODE_CPUS = [min(os.sched_getaffinity(0)), max(os.sched_getaffinity(0))]  # one CPU: both on it
TIMEOUT = 240  # no run here takes a tenth of it; it only stops a hang


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(args: list[str], cfg: Path, log: Path, env, cpus: set[int] | None = None) -> subprocess.Popen:
    # Own session: the launcher and its worker are one process group, killed together like a lost node.
    # `cpus` pins a "node" to its own CPUs, as a real node has: training sizes its torch threads from the CPUs it
    # may use, and a different thread count changes the float rounding of the convolutions.
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    with open(log, "ab") as fh:
        return subprocess.Popen([sys.executable, "-m", "torch.distributed.run", *args, str(DRIVER), str(cfg)],
                                env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=pin)


def _node_groups(launcher: subprocess.Popen) -> list[int]:
    """The process groups of one "node": its launcher's and its workers' (torchrun starts every worker in a
    session of its own, so killing the launcher's group alone would leave the worker training on)."""
    groups = [launcher.pid]
    for children in Path(f"/proc/{launcher.pid}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            groups += [int(pid) for pid in children.read_text().split()]
    return groups


def _kill_node(launcher: subprocess.Popen) -> None:
    for group in _node_groups(launcher):  # the launcher first: it must not see its worker die and react
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


@contextlib.contextmanager
def _launched(procs: list[subprocess.Popen]):
    try:
        yield procs
    finally:
        for p in procs:
            if p.poll() is None:
                _kill_node(p)
            p.wait(timeout=30)


def _two_nodes(cfg: Path, logs: list[Path], env, port: int, run_id: str) -> list[subprocess.Popen]:
    procs = []
    for node, log in enumerate(logs):
        args = torchrun_args(1, 2, endpoint=f"127.0.0.1:{port}", run_id=run_id, hosts_store=node == 0)
        procs.append(_torchrun(args, cfg, log, env, cpus={NODE_CPUS[node]}))
    return procs


def _wait(procs: list[subprocess.Popen], timeout: float = TIMEOUT) -> list[int]:
    deadline = time.monotonic() + timeout
    return [p.wait(timeout=max(1.0, deadline - time.monotonic())) for p in procs]


def _text(*logs: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in logs if p.exists())


def _assert_same_run(a: Path, b: Path) -> None:
    wa, wb = _weights(a / "out/model.pt"), _weights(b / "out/model.pt")
    assert wa.keys() == wb.keys()
    differ = [k for k in wa if not torch.equal(wa[k], wb[k])]
    assert not differ, f"weights differ in {differ}: max |diff| " \
                       f"{max(float((wa[k] - wb[k]).abs().max()) for k in differ)}"
    ma, mb = pd.read_parquet(a / "out/metrics.parquet"), pd.read_parquet(b / "out/metrics.parquet")
    for col in ("loss", "accuracy", "clips", "lr"):
        pd.testing.assert_series_equal(ma[col], mb[col], check_exact=True)


@pytest.fixture(scope="module")
def one_node(tmp_path_factory, cli_env):
    """The reference: one launcher, `--standalone --nproc_per_node=2`."""
    tmp = tmp_path_factory.mktemp("one_node")
    cfg = _driver(tmp, "run", settings=SETTINGS, record=RECORD)
    log = tmp / "node.log"
    with _launched([_torchrun(torchrun_args(2), cfg, log, _env(cli_env), cpus=set(NODE_CPUS))]) as procs:
        assert _wait(procs) == [0], _text(log)[-3000:]
    assert "2 process(es)" in _text(log)
    return tmp / "run"


# ---- the launcher options ----
def test_one_node_is_standalone_and_bad_input_is_named():
    assert torchrun_args(2) == ["--standalone", "--nproc_per_node=2"]
    assert slurm_torchrun_args({}, nproc=3) == ["--standalone", "--nproc_per_node=3"]
    assert slurm_torchrun_args({"SLURM_NNODES": "1", "SLURM_JOB_ID": "7"}, nproc=1) == \
        ["--standalone", "--nproc_per_node=1"]
    with pytest.raises(LaunchError, match="not a job step"):
        slurm_torchrun_args({"SLURM_NNODES": "2", "SLURM_NODEID": "0", "SLURM_JOB_NODELIST": "n[1-2]"}, nproc=1)
    with pytest.raises(LaunchError, match="SLURM_NODEID"):
        slurm_torchrun_args({"SLURM_STEP_NUM_NODES": "2", "SLURM_STEP_NODELIST": "n[1-2]"}, nproc=1)
    with pytest.raises(LaunchError, match="HOST:PORT"):
        torchrun_args(1, 2, endpoint="127.0.0.1")
    with pytest.raises(LaunchError, match="at least 1"):
        torchrun_args(0)


# ---- two torchrun launchers on loopback ----
@pytest.mark.slow
def test_two_nodes_train_exactly_like_one_node_with_the_same_world_size(one_node, tmp_path, cli_env):
    cfg = _driver(tmp_path, "run", settings=SETTINGS, record=RECORD)
    logs = [tmp_path / "node0.log", tmp_path / "node1.log"]
    with _launched(_two_nodes(cfg, logs, _env(cli_env), _free_port(), "equal")) as procs:
        assert _wait(procs) == [0, 0], _text(*logs)[-4000:]
    text = _text(*logs)
    assert "2 process(es)" in text and "resuming" not in text
    # Bit-identical, not merely close: each rank sees the same shard, and gloo sums the two ranks' gradients in
    # the same way whether the peer is in the same launcher or another one (a + b == b + a in floating point).
    _assert_same_run(one_node, tmp_path / "run")


@pytest.mark.slow
@pytest.mark.parametrize("lost", [0, 1], ids=["store-host-lost", "other-node-lost"])
def test_a_killed_node_stops_the_other_and_both_resume_from_the_last_checkpoint(lost, one_node, tmp_path, cli_env):
    # Slow reads (0.2 s a clip) leave most of a second between a mid-epoch checkpoint and the epoch's end.
    cfg = _driver(tmp_path, "run", settings=SETTINGS, record=RECORD, delay=0.2)
    state_path = tmp_path / "run/state/last.pt"
    env, port = _env(cli_env), _free_port()
    logs = [tmp_path / "node0.log", tmp_path / "node1.log"]
    with _launched(_two_nodes(cfg, logs, env, port, "killed")) as nodes:
        victim, other = nodes[lost], nodes[1 - lost]
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and victim.poll() is None:  # right after epoch 1's mid-epoch checkpoint
            if state_path.exists() and checkpoint.load(state_path)["global_step"] >= 6:
                break
            time.sleep(0.02)
        _kill_node(victim)
        t_kill = time.monotonic()
        assert victim.wait(timeout=30) == -signal.SIGKILL
        survivor = other.wait(timeout=120)  # torchrun's agent sees its worker fail on the lost peer and gives up
        stopped_after = time.monotonic() - t_kill
    assert survivor != 0, _text(logs[1 - lost])[-3000:]
    assert not (tmp_path / "run/out/model.pt").exists()
    st = checkpoint.load(state_path)
    assert (st["epoch"], st["step_in_epoch"]) == (1, 2), (st["epoch"], st["step_in_epoch"])
    print(f"survivor exited {survivor} {stopped_after:.1f} s after the kill")

    relaunch = [tmp_path / "node0.resume.log", tmp_path / "node1.resume.log"]
    with _launched(_two_nodes(cfg, relaunch, env, port, "killed")) as procs:  # same port and run id as before
        assert _wait(procs) == [0, 0], _text(*relaunch)[-4000:]
    assert "resuming from" in _text(*relaunch) and "epoch 1, step 2/4" in _text(*relaunch)
    _assert_same_run(one_node, tmp_path / "run")


# ---- the same two nodes started by SLURM ----
@pytest.fixture(scope="module")
def two_node_cluster():
    sys.path.insert(0, str(TOOLS))
    import slurm_local

    base = Path(tempfile.mkdtemp(prefix="e3d-slurm-"))
    try:
        env = slurm_local.start(base, gpus=0, nodes=2)
    except slurm_local.SlurmUnavailable as exc:
        pytest.skip(f"a two-node SLURM cluster cannot be started here: {exc}")
    yield env
    slurm_local.stop(base)


@pytest.mark.slow
@pytest.mark.slurm
def test_a_two_node_slurm_step_launches_the_same_training(two_node_cluster, one_node, tmp_path, cli_env):
    cfg = _driver(tmp_path, "run", settings=SETTINGS, record=RECORD)
    env = slurm_client_env({**_env(cli_env), **two_node_cluster})
    name = f"e3d-mn-{os.getpid()}"
    # The README's multi-node command, with the test driver in place of `-m e3d.cli train ...`.
    node_cmd = (f"ARGS=$(python -m e3d.train.launch --torchrun-args --port {_free_port()}) && echo \"$ARGS\" && "
                f"exec torchrun $ARGS {DRIVER} {cfg}")
    try:
        r = subprocess.run(["srun", "-N2", "--ntasks-per-node=1", "--kill-on-bad-exit=1", "-t", "5", "-J", name,
                            "bash", "-c", node_cmd], env=env, capture_output=True, text=True, timeout=TIMEOUT)
    finally:
        subprocess.run(["scancel", "-n", name], env=env, capture_output=True, timeout=60)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    options = sorted(line for line in r.stdout.splitlines() if line.startswith("--nnodes"))
    assert len(options) == 2 and all("--nnodes=2 --nproc_per_node=1 --rdzv_backend=c10d "
                                     "--rdzv_endpoint=127.0.0.1:" in o for o in options), r.stdout
    assert [o.rsplit("is_host=", 1)[1] for o in options] == ["0", "1"]  # exactly one node serves the store
    assert "2 process(es)" in r.stderr
    _assert_same_run(one_node, tmp_path / "run")
