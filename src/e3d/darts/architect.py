"""The architecture step of the bilevel optimisation: Adam on the alphas, driven by the validation loss.

First order uses grad_alpha L_val(w, alpha) at the current weights. Second order differentiates through one
virtual SGD step w' = w - eta * (momentum + grad_w L_train(w) + wd * w):
    grad = grad_alpha L_val(w', alpha) - eta * (d^2 L_train / d alpha d w) v,   v = grad_w' L_val(w', alpha),
with the Hessian-vector product by central finite differences at w +- eps v, eps = 0.01 / ||v||.

Every loss is evaluated with torch.func.functional_call on explicit parameter dicts, so the virtual and
perturbed weights never touch the model's own parameters, and BatchNorm running statistics are kept on
clones (the architecture step must not change what the weight step or evaluation sees).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn
from torch.func import functional_call

ORDERS = ("first", "second")

ParamDict = dict[str, torch.Tensor]
LossFn = Callable[[ParamDict, ParamDict], torch.Tensor]


def _grad(loss: torch.Tensor, tensors: Sequence[torch.Tensor]) -> list[torch.Tensor]:
    """d loss / d tensors, with zeros for tensors the loss does not use (e.g. the normal-cell alphas of a network
    whose every cell is a reduction cell)."""
    grads = torch.autograd.grad(loss, list(tensors), allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for t, g in zip(tensors, grads)]


def finite_difference_hvp(loss_fn: LossFn, weights: ParamDict, alphas: ParamDict, vector: Sequence[torch.Tensor],
                          r: float = 0.01) -> list[torch.Tensor]:
    """(grad_alpha L(w + eps v) - grad_alpha L(w - eps v)) / (2 eps) with eps = r / ||v||, one tensor per alpha."""
    names = list(weights)
    norm = torch.sqrt(sum((v.detach() ** 2).sum() for v in vector))
    eps = r / norm
    alpha_list = list(alphas.values())
    grads = []
    for sign in (1.0, -1.0):
        shifted = {n: (weights[n].detach() + sign * eps * v.detach()) for n, v in zip(names, vector)}
        loss = loss_fn(shifted, alphas)
        grads.append(_grad(loss, alpha_list))
    return [(gp - gm) / (2 * eps) for gp, gm in zip(*grads)]


class Architect:
    def __init__(self, model: nn.Module, weight_optimizer: torch.optim.SGD, criterion: nn.Module, *,
                 order: str = "first", lr: float = 3e-4, betas: tuple[float, float] = (0.5, 0.999),
                 weight_decay: float = 1e-3, hvp_r: float = 0.01):
        if order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
        self.model = model
        self.weight_optimizer = weight_optimizer
        self.criterion = criterion
        self.order = order
        self.hvp_r = hvp_r
        self.optimizer = torch.optim.Adam(model.arch_parameters(), lr=lr, betas=betas, weight_decay=weight_decay)

    # -- losses on explicit parameters ------------------------------------------------------------------------
    def _alphas(self) -> ParamDict:
        ids = {id(p) for p in self.model.arch_parameters()}
        return {n: p for n, p in self.model.named_parameters() if id(p) in ids}

    def _weights(self) -> ParamDict:
        return dict(self.model.named_weights())

    def loss_fn(self, batch) -> LossFn:
        x, y = batch
        buffers = {n: b.clone() for n, b in self.model.named_buffers()}

        def loss(weights: ParamDict, alphas: ParamDict) -> torch.Tensor:
            return self.criterion(functional_call(self.model, ({**weights, **alphas}, buffers), (x,)), y)

        return loss

    # -- the step ----------------------------------------------------------------------------------------------
    def step(self, train_batch, val_batch, eta: float) -> float:
        """One Adam step on the alphas; returns the validation loss at which the gradient was taken."""
        if self.order == "first":
            grads, val_loss = self.first_order_grads(val_batch)
        else:
            grads, val_loss = self.second_order_grads(train_batch, val_batch, eta)
        self.optimizer.zero_grad(set_to_none=True)
        for p, g in zip(self._alphas().values(), grads):
            p.grad = g.detach()
        self.optimizer.step()
        return val_loss

    def first_order_grads(self, val_batch) -> tuple[list[torch.Tensor], float]:
        alphas = self._alphas()
        weights = {n: w.detach() for n, w in self._weights().items()}
        loss = self.loss_fn(val_batch)(weights, alphas)
        return _grad(loss, list(alphas.values())), float(loss.detach())

    def virtual_step(self, train_batch, eta: float) -> ParamDict:
        """w' = w - eta * (momentum * buffer + grad_w L_train + wd * w), the SGD step the weights are about to take."""
        weights = self._weights()
        alphas = {n: a.detach() for n, a in self._alphas().items()}
        loss = self.loss_fn(train_batch)(weights, alphas)
        grads = _grad(loss, list(weights.values()))
        group = self.weight_optimizer.param_groups[0]
        momentum, wd = group.get("momentum", 0.0), group.get("weight_decay", 0.0)
        unrolled = {}
        for (name, w), g in zip(weights.items(), grads):
            buf = self.weight_optimizer.state.get(w, {}).get("momentum_buffer")
            moment = momentum * buf if buf is not None else torch.zeros_like(w)
            unrolled[name] = (w.detach() - eta * (moment + g + wd * w.detach())).requires_grad_(True)
        return unrolled

    def second_order_grads(self, train_batch, val_batch, eta: float) -> tuple[list[torch.Tensor], float]:
        alphas = self._alphas()
        unrolled = self.virtual_step(train_batch, eta)
        loss = self.loss_fn(val_batch)(unrolled, alphas)
        grads = _grad(loss, list(alphas.values()) + list(unrolled.values()))
        d_alpha, vector = grads[: len(alphas)], grads[len(alphas):]
        weights = {n: w.detach() for n, w in self._weights().items()}
        hvp = finite_difference_hvp(self.loss_fn(train_batch), weights, alphas, vector, self.hvp_r)
        return [g - eta * h for g, h in zip(d_alpha, hvp)], float(loss.detach())
