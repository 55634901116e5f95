"""Training-step speed of a model with e3d's depthwise Conv3d (fast CPU backward) against the same model with
PyTorch's stock depthwise nn.Conv3d, in the same process, on the CPU. Prints both and the ratio.

    python benchmarks/depthwise_backward.py --arch spec:config/archs/e3d-initial-t3.json --frames 8 --crop 32

Ratio > 1: the e3d path trains faster. Both models have the same weights, so the loss is identical to float
rounding (printed as a check; the same dropout masks).
"""

from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from e3d.models.depthwise import DepthwiseConv3d
from e3d.train import model_source
from e3d.train.model_source import ModelOptions, resolve


def stock_copy(model: torch.nn.Module) -> torch.nn.Module:
    """The same model with every DepthwiseConv3d replaced by an nn.Conv3d holding the same weight."""
    import copy

    model = copy.deepcopy(model)
    for name, mod in list(model.named_modules()):
        for child_name, child in list(mod.named_children()):
            if isinstance(child, DepthwiseConv3d):
                stock = torch.nn.Conv3d(child.in_channels, child.out_channels, child.kernel_size, child.stride,
                                        child.padding, groups=child.groups, bias=False)
                stock.weight.data.copy_(child.weight.data)
                setattr(mod, child_name, stock)
    return model


def step_seconds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> tuple[float, float]:
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: every step sees the same weights
    torch.manual_seed(1)  # the same dropout masks for both models
    for _ in range(2):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
    t0 = time.perf_counter()
    for _ in range(steps):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return (time.perf_counter() - t0) / steps, float(loss)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", default="spec:config/archs/e3d-initial-t3.json")
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--crop", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    record = resolve(args.arch, ModelOptions(frames=args.frames, resolution=args.crop))
    fast = model_source.build(record, 10).train()
    stock = stock_copy(fast).train()
    x = torch.randn(args.batch_size, 3, args.frames, args.crop, args.crop)
    y = torch.randint(0, 10, (args.batch_size,))
    t_stock, loss_stock = step_seconds(stock, x, y, args.steps)
    t_fast, loss_fast = step_seconds(fast, x, y, args.steps)
    print(f"{args.arch} at {args.frames}x{args.crop}^2, batch {args.batch_size}, {args.threads} threads")
    print(f"stock nn.Conv3d depthwise: {t_stock * 1000:.1f} ms/step (loss {loss_stock:.6f})")
    print(f"e3d DepthwiseConv3d:       {t_fast * 1000:.1f} ms/step (loss {loss_fast:.6f})")
    print(f"speed-up: {t_stock / t_fast:.2f}x")


if __name__ == "__main__":
    main()
