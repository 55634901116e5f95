"""How a training job starts its processes: torchrun's options for this node.

    python -m e3d.train.launch                  # processes on this node: one per GPU torch can see, or 1
    python -m e3d.train.launch --torchrun-args  # torchrun's options for this node (one node or a SLURM step)

The workflow's train rule runs `torchrun --standalone --nproc_per_node=$(python -m e3d.train.launch)`. On several
SLURM nodes, one launcher per node (`srun --ntasks-per-node=1`) runs
`ARGS=$(python -m e3d.train.launch --torchrun-args) && torchrun $ARGS -m e3d.cli train ...`: every node derives the
same c10d rendezvous (the first node of the step, SLURM's address for it, the job id) from SLURM's variables.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from typing import Callable, Mapping, Sequence

from e3d.errors import E3DError

DEFAULT_PORT = 29500


class LaunchError(E3DError):
    """The environment does not say how to start the training processes (e.g. multi-node outside srun)."""


def processes() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 1


def torchrun_args(nproc: int, nnodes: int = 1, *, endpoint: str | None = None, run_id: str = "e3d",
                  hosts_store: bool = False) -> list[str]:
    """torchrun's options: `--standalone` on one node; otherwise a c10d rendezvous at `endpoint` (HOST:PORT).

    `hosts_store` says which launcher serves the rendezvous store; torchrun would guess it from the host name,
    which fails when the endpoint is an address of another interface or when all nodes share one host
    (loopback tests). Ranks are assigned by the rendezvous, so no node rank is passed (torchrun ignores it for c10d).
    """
    if nproc < 1:
        raise LaunchError(f"processes per node must be at least 1, got {nproc}")
    if nnodes < 1:
        raise LaunchError(f"number of nodes must be at least 1, got {nnodes}")
    if nnodes == 1:
        return ["--standalone", f"--nproc_per_node={nproc}"]
    if not endpoint or not re.fullmatch(r"[^\s:]+:\d+", endpoint):
        raise LaunchError(f"a {nnodes}-node run needs a rendezvous endpoint HOST:PORT, got {endpoint!r}")
    return [f"--nnodes={nnodes}", f"--nproc_per_node={nproc}", "--rdzv_backend=c10d", f"--rdzv_endpoint={endpoint}",
            f"--rdzv_id={run_id}", f"--rdzv_conf=is_host={int(hosts_store)}"]


def _scontrol(args: Sequence[str]) -> str:
    try:
        res = subprocess.run(["scontrol", *args], capture_output=True, text=True, timeout=60)
    except FileNotFoundError as exc:
        raise LaunchError("scontrol is not on PATH: cannot read the SLURM node list") from exc
    if res.returncode != 0:
        raise LaunchError(f"scontrol {' '.join(args)} failed: {res.stderr.strip()}")
    return res.stdout


def first_node_address(nodelist: str, scontrol: Callable[[Sequence[str]], str] = _scontrol) -> str:
    """The address of the first node of a SLURM node list: its NodeAddr (what SLURM itself uses to reach the
    node; the node name when the cluster sets no other)."""
    hosts = scontrol(["show", "hostnames", nodelist]).split()
    if not hosts:
        raise LaunchError(f"scontrol show hostnames {nodelist!r} lists no node")
    fields = dict(re.findall(r"(\w+)=(\S*)", scontrol(["show", "node", "-o", hosts[0]])))
    return fields.get("NodeAddr") or hosts[0]


def slurm_torchrun_args(env: Mapping[str, str] | None = None, *, nproc: int | None = None, port: int = DEFAULT_PORT,
                        scontrol: Callable[[Sequence[str]], str] = _scontrol) -> list[str]:
    """torchrun's options for this node from SLURM's variables; `--standalone` outside SLURM or on one node.

    Inside a job step (srun) the step's nodes count, not the job's: a step may use a subset of the allocation.
    """
    env = os.environ if env is None else env
    nproc = processes() if nproc is None else nproc
    in_step = "SLURM_STEP_NUM_NODES" in env
    nnodes_text = env.get("SLURM_STEP_NUM_NODES") if in_step else env.get("SLURM_NNODES", "1")
    try:
        nnodes = int(nnodes_text or "1")
    except ValueError as exc:
        raise LaunchError(f"SLURM node count is not a number: {nnodes_text!r}") from exc
    if nnodes <= 1:
        return torchrun_args(nproc)
    if not in_step:
        raise LaunchError(f"this job has {nnodes} nodes but this is not a job step: start one launcher per node "
                          "with `srun --ntasks-per-node=1`")
    nodelist, node_id = env.get("SLURM_STEP_NODELIST"), env.get("SLURM_NODEID")
    if not nodelist or node_id is None or not node_id.isdigit():
        raise LaunchError(f"SLURM_STEP_NODELIST={nodelist!r} and SLURM_NODEID={node_id!r}: a {nnodes}-node step "
                          "needs both")
    if not 1 <= port <= 65535:
        raise LaunchError(f"rendezvous port must be 1-65535, got {port}")
    endpoint = f"{first_node_address(nodelist, scontrol)}:{port}"
    # The job id is the same on every node and after a requeue, so a relaunch rendezvouses again.
    run_id = env.get("SLURM_JOB_ID") or env.get("SLURM_JOBID") or "e3d"
    return torchrun_args(nproc, nnodes, endpoint=endpoint, run_id=run_id, hosts_store=int(node_id) == 0)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m e3d.train.launch", description=__doc__.splitlines()[0])
    ap.add_argument("--torchrun-args", action="store_true",
                    help="print torchrun's options for this node instead of the number of processes")
    ap.add_argument("--port", type=int, default=DEFAULT_PORT, help="rendezvous port on the first node (multi-node)")
    args = ap.parse_args(argv)
    try:
        if args.torchrun_args:
            print(shlex.join(slurm_torchrun_args(port=args.port)))
        else:
            print(max(1, processes()))
    except LaunchError as exc:
        print(f"e3d.train.launch: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
