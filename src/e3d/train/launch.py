"""How many training processes a job starts: one per GPU torch can see, or a single CPU process.

Used by the workflow's train rule: `torchrun --standalone --nproc_per_node=$(python -m e3d.train.launch)`.
"""

from __future__ import annotations


def processes() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 1


if __name__ == "__main__":
    print(max(1, processes()))
