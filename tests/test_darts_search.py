"""DARTS-P3D bilevel optimisation: the second-order Hessian-vector product, optimiser separation, and a short
search that lowers the validation loss on a small synthetic motion task."""

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from e3d.darts.architect import Architect, finite_difference_hvp
from e3d.darts.config import SearchConfig
from e3d.darts.data import SearchData
from e3d.darts.network import SearchNetwork
from e3d.darts.search import evaluate, run_search
from e3d.darts.space import NetworkConfig


pytestmark = pytest.mark.usefixtures("one_torch_thread")


TINY = NetworkConfig(channels=4, layers=3, steps=2, multiplier=2, segments=2, frames_per_segment=2)


def moving_squares(n: int, frames: int, size: int, seed: int) -> TensorDataset:
    """Class 0: a square moving right, 1: moving left, 2: static; only motion separates the classes."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % 3
    x = 0.3 * torch.randn(n, 3, frames, size, size, generator=g)
    for i in range(n):
        r, c0 = torch.randint(2, size - 6, (2,), generator=g).tolist()
        for t in range(frames):
            c = (c0 + {0: 2 * t, 1: -2 * t, 2: 0}[int(labels[i])]) % (size - 4)
            x[i, :, t, r:r + 4, c:c + 4] += 2.0
    return TensorDataset(x, labels)


def test_finite_difference_hvp_matches_double_backward():
    torch.manual_seed(0)
    dt = torch.float64
    x, y = torch.randn(16, 5, dtype=dt), torch.randint(0, 3, (16,))
    weights = {"w1": torch.randn(5, 6, dtype=dt, requires_grad=True), "w2": torch.randn(6, 3, dtype=dt, requires_grad=True),
               "w3": torch.randn(5, 6, dtype=dt, requires_grad=True)}
    alphas = {"a": (0.5 * torch.randn(2, dtype=dt)).requires_grad_(True)}

    def loss_fn(w, a):  # a softmax-mixed edge between a tanh and a sigmoid branch, then a linear classifier
        mix = torch.softmax(a["a"], 0)
        h = mix[0] * torch.tanh(x @ w["w1"]) + mix[1] * torch.sigmoid(x @ w["w3"])
        return nn.functional.cross_entropy(h @ w["w2"], y)

    v = [torch.randn_like(w) for w in weights.values()]
    approx = finite_difference_hvp(loss_fn, weights, alphas, v, r=0.01)
    grads = torch.autograd.grad(loss_fn(weights, alphas), list(weights.values()), create_graph=True)
    exact = torch.autograd.grad(sum((g * vi).sum() for g, vi in zip(grads, v)), list(alphas.values()))
    assert exact[0].abs().max() > 1e-3  # a non-trivial mixed second derivative
    torch.testing.assert_close(approx[0], exact[0], rtol=1e-4, atol=1e-7)


def test_second_order_grads_match_exact_unrolled_gradient():
    """On a tiny float64 search net the architect's second-order gradient equals the analytic one
    d/d alpha L_val(w - eta grad_w L_train(w, alpha), alpha), up to the finite-difference error.

    This checks the wiring (virtual step, vector, sign, eta), so the difference step is small: at the documented
    r = 0.01 the max-pool and small-batch BatchNorm kinks of an untrained net dominate the central difference
    (the smooth-net test above checks r = 0.01 itself)."""
    torch.manual_seed(0)
    net = SearchNetwork(3, TINY).double()
    crit = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.weights(), lr=0.1, momentum=0.9, weight_decay=0.0)
    arch = Architect(net, opt, crit, order="second", hvp_r=1e-6)
    xt, yt = torch.randn(4, 3, 4, 8, 8, dtype=torch.float64), torch.tensor([0, 1, 2, 0])
    xv, yv = torch.randn(4, 3, 4, 8, 8, dtype=torch.float64), torch.tensor([1, 2, 0, 1])
    eta = 0.1
    approx, _ = arch.second_order_grads((xt, yt), (xv, yv), eta)

    weights, alphas = arch._weights(), arch._alphas()
    g_train = torch.autograd.grad(arch.loss_fn((xt, yt))(weights, alphas), list(weights.values()), create_graph=True)
    unrolled = {n: w - eta * g for (n, w), g in zip(weights.items(), g_train)}
    exact = torch.autograd.grad(arch.loss_fn((xv, yv))(unrolled, alphas), list(alphas.values()))
    for a, e in zip(approx, exact):
        torch.testing.assert_close(a, e, rtol=2e-3, atol=1e-6)


@pytest.mark.parametrize("order", ["first", "second"])
def test_weights_and_alphas_move_only_with_their_own_optimiser(order):
    torch.manual_seed(0)
    net = SearchNetwork(3, TINY)
    crit = nn.CrossEntropyLoss()
    w_opt = torch.optim.SGD(net.weights(), lr=0.05, momentum=0.9, weight_decay=3e-4)
    arch = Architect(net, w_opt, crit, order=order)
    batch = (torch.randn(4, 3, 4, 8, 8), torch.tensor([0, 1, 2, 0]))

    def snapshot():
        return [p.detach().clone() for p in net.weights()], [a.detach().clone() for a in net.arch_parameters()]

    buffers = [b.clone() for b in net.buffers()]
    w0, a0 = snapshot()
    arch.step(batch, batch, eta=0.05)
    w1, a1 = snapshot()
    assert all(torch.equal(p, q) for p, q in zip(w0, w1)), "the architecture step changed network weights"
    assert all(torch.equal(p, q) for p, q in zip(buffers, net.buffers())), "the architecture step changed BN statistics"
    assert any(not torch.equal(p, q) for p, q in zip(a0, a1))

    w_opt.zero_grad()
    crit(net(batch[0]), batch[1]).backward(inputs=net.weights())
    w_opt.step()
    w2, a2 = snapshot()
    assert all(torch.equal(p, q) for p, q in zip(a1, a2)), "the weight step changed the alphas"
    assert any(not torch.equal(p, q) for p, q in zip(w1, w2))
    assert {id(p) for g in arch.optimizer.param_groups for p in g["params"]} == {id(a) for a in net.arch_parameters()}
    assert {id(p) for g in w_opt.param_groups for p in g["params"]}.isdisjoint({id(a) for a in net.arch_parameters()})


def test_short_search_lowers_validation_loss_and_is_deterministic():
    train, val = moving_squares(24, 4, 16, seed=0), moving_squares(24, 4, 16, seed=1)
    data = SearchData(train, val, val, 3, {})
    cfg = SearchConfig(channels=4, layers=3, steps=2, multiplier=2, stem_stride=1, segments=2, frames_per_segment=2,
                       size=16, batch_size=8, epochs=2, w_lr=0.05, seed=0)
    torch.manual_seed(cfg.seed)
    initial = SearchNetwork(3, cfg.network, alpha_seed=cfg.seed)
    loss0, _ = evaluate(initial, DataLoader(val, batch_size=8), nn.CrossEntropyLoss(), torch.device("cpu"))
    result = run_search(data, cfg, device="cpu")
    hist = result.history
    assert list(hist.epoch) == [0, 1]
    assert hist.val_loss.iloc[-1] < 0.8 * loss0, (loss0, hist.val_loss.tolist())
    assert hist.val_acc.iloc[-1] > 0.5
    assert not torch.equal(result.model.alphas_normal, initial.alphas_normal)
    # same seed, same search
    rerun = run_search(data, cfg, device="cpu")
    assert rerun.history.drop(columns="seconds").equals(hist.drop(columns="seconds"))


@pytest.mark.parametrize("order", ["first", "second"])
def test_a_network_of_only_reduction_cells_searches(order):
    """With 2 layers both cells are reduction cells: the normal-cell alphas are unused and get a zero gradient."""
    torch.manual_seed(0)
    cfg = NetworkConfig(channels=4, layers=2, steps=2, multiplier=2, segments=2, frames_per_segment=2)
    net = SearchNetwork(3, cfg)
    w_opt = torch.optim.SGD(net.weights(), lr=0.05, momentum=0.9)
    arch = Architect(net, w_opt, nn.CrossEntropyLoss(), order=order)
    batch = (torch.randn(4, 3, 4, 8, 8), torch.tensor([0, 1, 2, 0]))
    grads, loss = (arch.first_order_grads(batch) if order == "first"
                   else arch.second_order_grads(batch, batch, 0.05))
    assert len(grads) == len(list(net.arch_parameters())) and all(torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() == 0 for g in grads) and any(g.abs().sum() > 0 for g in grads)
    assert loss == loss
