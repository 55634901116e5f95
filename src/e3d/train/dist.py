"""Process group, device and CPU budget for one training process (torchrun or plain python).

NCCL + one GPU per process when CUDA is usable; gloo on the CPU otherwise. SLURM may allot "GPUs" that
torch cannot see (e.g. a node whose GRES are placeholders): then training runs on the CPU, saying so.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist


@dataclass(frozen=True)
class Context:
    rank: int
    world: int
    local_rank: int
    local_world: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"


# The CPUs the workflow gave the job (its rule's threads): a local Snakemake run pins nothing, so two one-CPU jobs
# side by side would each see every core of the affinity mask and oversubscribe them.
JOB_CPUS_ENV = "E3D_JOB_CPUS"


def job_cpus() -> int:
    """CPUs this job may use: the affinity mask (what cgroups/SLURM actually grant), SLURM's count, or the job's
    threads the workflow passes in E3D_JOB_CPUS, whichever is least."""
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    slurm = os.environ.get("SLURM_CPUS_ON_NODE") or os.environ.get("SLURM_CPUS_PER_TASK")
    for value in (slurm, os.environ.get(JOB_CPUS_ENV)):
        if value and value.isdigit():
            n = min(n, int(value))
    return max(1, n)


def init(log=print) -> Context:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
    use_cuda = torch.cuda.is_available() and torch.cuda.device_count() > 0
    if not use_cuda and (os.environ.get("SLURM_GPUS") or os.environ.get("SLURM_JOB_GPUS")) and rank == 0:
        log("SLURM allotted GPUs but torch sees no CUDA device: training on the CPU")
    if use_cuda:
        device = torch.device("cuda", local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if world > 1 and not torch_dist.is_initialized():
        torch_dist.init_process_group(backend="nccl" if use_cuda else "gloo", device_id=device if use_cuda else None)
    return Context(rank=rank, world=world, local_rank=local_rank, local_world=local_world, device=device)


def shutdown() -> None:
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if torch_dist.is_initialized():
        torch_dist.all_reduce(t, op=torch_dist.ReduceOp.SUM)
    return t


def barrier() -> None:
    if torch_dist.is_initialized():
        torch_dist.barrier()


def log_main(ctx: Context, msg: str) -> None:
    if ctx.is_main:
        print(msg, file=sys.stderr, flush=True)
