"""The bilevel search loop: per step, one architecture step on a batch of the architecture half, then one SGD
step of the weights on a batch of the weight half; per epoch, validation metrics and the derived genotype."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from e3d.darts.architect import Architect
from e3d.darts.config import SearchConfig
from e3d.darts.data import SearchData
from e3d.darts.genotype import Genotype
from e3d.darts.network import SearchNetwork
from e3d.progress import Progress


@dataclass
class SearchResult:
    model: SearchNetwork
    genotype: Genotype
    history: pd.DataFrame
    seconds: float
    device: str


def resolve_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        # GPU paths fall back to the CPU rather than failing on a CPU-only node.
        return torch.device("cpu")
    return device


def _loader(dataset, config: SearchConfig, shuffle: bool, epoch: int, salt: int) -> DataLoader:
    if hasattr(dataset, "set_epoch"):
        dataset.set_epoch(epoch)
    gen = torch.Generator().manual_seed(config.seed * 1_000_003 + epoch * 101 + salt)
    return DataLoader(dataset, batch_size=config.batch_size, shuffle=shuffle, generator=gen,
                      num_workers=config.num_workers, drop_last=False)


def _repeat(loader: DataLoader) -> Iterator:
    while True:
        yield from loader


def evaluate(model: nn.Module, loader: DataLoader, criterion: nn.Module, device: torch.device) -> tuple[float, float]:
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.no_grad():
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            logits = model(x)
            total_loss += float(criterion(logits, y)) * len(y)
            correct += int((logits.argmax(1) == y).sum())
            count += len(y)
    return total_loss / max(count, 1), correct / max(count, 1)


def recalibrate_batchnorm(model: nn.Module, loader: DataLoader, max_batches: int, device: torch.device) -> int:
    """Replace BatchNorm running statistics by their average over up to `max_batches` batches at the current
    weights ("precise BN"). The weights move fast during a search, so the exponential running averages lag
    and eval-mode validation would measure stale statistics rather than the network."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    if not norms or max_batches <= 0:
        return 0
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the batches below
    model.train()
    seen = 0
    with torch.no_grad():
        for x, _ in loader:
            model(x.to(device))
            seen += 1
            if seen >= max_batches:
                break
    for m, momentum in zip(norms, saved):
        m.momentum = momentum
    return seen


def run_search(data: SearchData, config: SearchConfig, *, device: str = "auto",
               on_epoch: Callable[[pd.DataFrame, SearchNetwork], None] | None = None,
               progress_every: float = 10.0) -> SearchResult:
    """Search a cell on `data`; `on_epoch(history_so_far, model)` runs after every epoch (to write artifacts)."""
    dev = resolve_device(device)
    torch.manual_seed(config.seed)
    model = SearchNetwork(data.num_classes, config.network, alpha_seed=config.seed).to(dev)
    criterion = nn.CrossEntropyLoss()
    w_opt = torch.optim.SGD(model.weights(), lr=config.w_lr, momentum=config.w_momentum,
                            weight_decay=config.w_weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=config.epochs, eta_min=config.w_lr_min)
    architect = Architect(model, w_opt, criterion, order=config.order, lr=config.a_lr,
                          betas=(config.a_beta1, config.a_beta2), weight_decay=config.a_weight_decay)
    steps_per_epoch = -(-len(data.train) // config.batch_size)
    rows: list[dict] = []
    start = time.monotonic()
    with Progress(total=config.epochs * steps_per_epoch, desc="darts-search", unit="step", every=progress_every) as bar:
        for epoch in range(config.epochs):
            t0 = time.monotonic()
            lr = scheduler.get_last_lr()[0]
            model.train()
            val_iter = _repeat(_loader(data.val, config, True, epoch, salt=1))
            tr_loss, tr_correct, tr_count, arch_losses = 0.0, 0, 0, []
            for x, y in _loader(data.train, config, True, epoch, salt=0):
                x, y = x.to(dev), y.to(dev)
                if epoch >= config.arch_warmup_epochs:
                    xv, yv = next(val_iter)
                    arch_losses.append(architect.step((x, y), (xv.to(dev), yv.to(dev)), eta=lr))
                w_opt.zero_grad(set_to_none=True)
                logits = model(x)
                loss = criterion(logits, y)
                loss.backward(inputs=model.weights())  # the weight step never writes alpha gradients
                nn.utils.clip_grad_norm_(model.weights(), config.grad_clip)
                w_opt.step()
                tr_loss += float(loss.detach()) * len(y)
                tr_correct += int((logits.detach().argmax(1) == y).sum())
                tr_count += len(y)
                bar.update(1, note=f"epoch {epoch + 1}/{config.epochs} loss {tr_loss / tr_count:.3f}")
            scheduler.step()
            recalibrate_batchnorm(model, _loader(data.train, config, True, epoch, salt=3), config.bn_batches, dev)
            val_loss, val_acc = evaluate(model, _loader(data.val_eval, config, False, epoch, salt=2), criterion, dev)
            genotype = model.genotype()
            rows.append({
                "epoch": epoch,
                "lr": lr,
                "train_loss": tr_loss / max(tr_count, 1),
                "train_acc": tr_correct / max(tr_count, 1),
                "arch_loss": sum(arch_losses) / len(arch_losses) if arch_losses else float("nan"),
                "val_loss": val_loss,
                "val_acc": val_acc,
                "seconds": time.monotonic() - t0,
                "genotype": json.dumps(genotype.to_dict(), sort_keys=True),
                "alphas": json.dumps(model.alpha_weights()),
            })
            history = pd.DataFrame(rows)
            print(f"[darts-search] epoch {epoch + 1}/{config.epochs}: train loss {rows[-1]['train_loss']:.4f} "
                  f"acc {rows[-1]['train_acc']:.3f}, val loss {val_loss:.4f} acc {val_acc:.3f}", file=bar.stream, flush=True)
            if on_epoch is not None:
                on_epoch(history, model)
    return SearchResult(model, model.genotype(), pd.DataFrame(rows), time.monotonic() - start, str(dev))
