"""The E3D search space ("k1dwk1": stem conv, super blocks of 3D inverted bottlenecks, final 1x1x1 conv) and its
mutations, with the semantics of the authors' TinyNAS code (space_3d_k1dwk1.py, the SuperRes3DK1DWK1 and
Conv3DKXBNRELU mutators, space_utils.adjust_structures_inplace):

- a candidate is a *genome*: a flat tuple (stem_out, then per super block out, btn, kt, k, L). Strides, the stem
  kernel, the final conv and the head come from the template spec (paper Table 8) and are never mutated;
- one step mutates `blocks_per_step` (2) units, each drawn uniformly from {stem, super blocks} (never the final conv;
  the same unit may be drawn twice). A unit draw that breaks the layer budget is redrawn, up to len(units) + 1
  times (the authors' loop over the structure list); after that the last draw is kept and the search rejects it;
- the stem only mutates its width: round8(w * scale), at most 32 and at most block 0's width;
- a super block mutates one of {out, k, btn, L}, uniformly:
  out: new = min(640, round8(out * scale)), clamped to [block input width, next unit's out] (the next unit of the last
       super block is the final conv), and btn = round8(new * ratio) keeps the block's expansion ratio (the ratio in
       the ratio list closest to btn/out);
  k:   a kernel from the set, redrawn up to len(set) times until it differs from the current one;
  btn: btn = round8(out * ratio), ratio from the list, redrawn up to len(list) times until it differs;
  L:   L = max(1, L + d), d from {-2,-1,1,2}, redrawn until it changes; then capped at 3 for the first super block
       and at max_layers // 3 // (blocks - 1) for the others (the authors' caps: 6 at 83 layers, 13 at 167);
- round8(x) = max(8, round(x / 8) * 8) (Python's round, half to even, as the authors');
- a spatial kernel k with 1.5 k > the block's input size is shrunk by 2 (the size is divided by each stride, as floats).

Widths therefore stay multiples of 8, in [8, 640] for outputs, and never decrease along depth.
"""

from __future__ import annotations

import dataclasses
import random
from dataclasses import dataclass
from typing import Sequence

from e3d.arch.spec import ArchSpec, Kernel, _kernel, kernel_str
from e3d.errors import E3DError

PAPER_KERNELS: tuple[Kernel, ...] = ((1, 3, 3), (1, 5, 5), (3, 3, 3))
WIDTH_SCALES = (2.0, 1.5, 1.25, 0.8, 0.6, 0.5)
BTN_RATIOS = (1.5, 2.0, 2.5, 3.0, 3.5, 4.0)
LAYER_DELTAS = (-2, -1, 1, 2)

Genome = tuple[int, ...]
FIELDS = 5  # per super block: out, btn, kt, k, L


class SpaceError(E3DError, ValueError):
    """A search-space setting that cannot work (bad kernel set, template outside the space, ...)."""


def parse_kernels(value: str | Sequence) -> tuple[Kernel, ...]:
    """'1x3x3,1x5x5,3x3x3' or a list of such strings / triples -> kernel triples (odd sizes only)."""
    items = [s for s in value.split(",") if s.strip()] if isinstance(value, str) else list(value)
    if not items:
        raise SpaceError("kernel set is empty")
    kernels = []
    for item in items:
        # the spec's kernel parser also rejects even sizes (only odd kernels keep T and R aligned)
        kern = _kernel(item.strip() if isinstance(item, str) else item, "kernel set")
        if kern not in kernels:
            kernels.append(kern)
    return tuple(kernels)


def round8(x: float, base: int = 8) -> int:
    return max(base, round(x / float(base)) * base)


@dataclass(frozen=True)
class SearchSpace:
    """Mutation settings plus the template (strides, stem kernel, final conv, head) at one input resolution."""

    template: ArchSpec
    resolution: int
    max_layers: int
    kernels: tuple[Kernel, ...] = PAPER_KERNELS
    width_scales: tuple[float, ...] = WIDTH_SCALES
    btn_ratios: tuple[float, ...] = BTN_RATIOS
    layer_deltas: tuple[int, ...] = LAYER_DELTAS
    max_width: int = 640
    stem_max_width: int = 32
    first_block_max_layers: int = 3
    authors_layer_caps: bool = True
    blocks_per_step: int = 2

    def __post_init__(self) -> None:
        t = self.template
        for i, b in enumerate(t.blocks):
            if b.per_layer or b.se_ratio > 0 or b.residual != "e3d":
                raise SpaceError(f"template block {i}: the k1dwk1 space has no per-layer overrides, SE or projections")
        if t.stem.temporal_dw:
            raise SpaceError("template stem: the k1dwk1 space has no temporal depthwise stem conv")
        if not self.kernels:
            raise SpaceError("kernel set is empty")
        n = len(t.blocks)
        if self.max_layers < 2 + 3 * n:
            raise SpaceError(f"max_layers {self.max_layers} is below the smallest network of the space "
                             f"({2 + 3 * n} layers: stem, {n} one-layer super blocks, final conv)")
        if self.resolution < 1:
            raise SpaceError(f"resolution must be positive, got {self.resolution}")
        # per unit (0 = stem, 1.. = super blocks) input size as the authors track it: floats divided by strides
        sizes = [float(self.resolution)]
        for s in [t.stem.stride] + [b.stride for b in t.blocks]:
            sizes.append(sizes[-1] / s)
        object.__setattr__(self, "_in_sizes", tuple(sizes))
        object.__setattr__(self, "_kt_k", tuple((k[0], k[1]) for k in self.kernels))
        cap = self.max_layers // 3 // (n - 1) if (self.authors_layer_caps and n > 1) else self.max_layers
        object.__setattr__(self, "_layer_cap", max(1, cap))

    # ---- structure ----
    @property
    def n_blocks(self) -> int:
        return len(self.template.blocks)

    def shrink(self, unit: int, k: int) -> int:
        """The authors' kernel rule: while 1.5 k > input size: k -= 2 (never below 1)."""
        size = self._in_sizes[unit]
        while k > 1 and k * 1.5 > size:
            k -= 2
        return k

    def stem_kernel(self) -> Kernel:
        kt, k, _ = self.template.stem.kernel
        k = self.shrink(0, k)
        return (kt, k, k)

    def layers_of(self, g: Genome) -> int:
        return 2 + 3 * sum(g[5::FIELDS])

    def genome_from_spec(self, spec: ArchSpec, conform: bool = True) -> Genome:
        """Encode a spec of this space; with `conform`, kernels outside the kernel set are replaced by the nearest
        one in it and the shrink rule is applied (how the initial structure enters a restricted kernel set)."""
        if len(spec.blocks) != self.n_blocks:
            raise SpaceError(f"{spec.name}: has {len(spec.blocks)} super blocks, the space {self.n_blocks}")
        g = [spec.stem.out]
        for i, b in enumerate(spec.blocks):
            kt, k = b.kernel[0], b.kernel[1]
            if conform:
                if (kt, k) not in self._kt_k:
                    kt, k = min(self._kt_k, key=lambda c: (abs(c[0] - kt) + abs(c[1] - k), self._kt_k.index(c)))
                k = self.shrink(i + 1, k)
            g.extend((b.out, b.btn, kt, k, b.layers))
        return tuple(g)

    def spec_from_genome(self, g: Genome, name: str = "searched") -> ArchSpec:
        t = self.template
        blocks = []
        for i, tb in enumerate(t.blocks):
            out, btn, kt, k, L = g[1 + FIELDS * i: 1 + FIELDS * (i + 1)]
            blocks.append(dataclasses.replace(tb, out=out, btn=btn, kernel=(kt, k, k), layers=L))
        return dataclasses.replace(
            t, name=name, stem=dataclasses.replace(t.stem, out=g[0], kernel=self.stem_kernel()), blocks=tuple(blocks),
            resolution=self.resolution,
        )

    def smallest_genome(self) -> Genome:
        """Every width 8, one layer per block, the cheapest kernel of the set: the smallest network of the space."""
        kt, k = min(self._kt_k, key=lambda c: (c[0] * c[1] * c[1], c))
        g = [8]
        for i in range(self.n_blocks):
            g.extend((8, 8, kt, self.shrink(i + 1, k), 1))
        return tuple(g)

    # ---- mutation ----
    def mutate(self, genome: Genome, rng: random.Random) -> Genome:
        g = genome
        units = self.n_blocks + 1
        tries = self.n_blocks + 2  # the authors loop over the whole structure list (stem, blocks, final)
        for _ in range(self.blocks_per_step):
            cand = g
            for _ in range(tries):
                cand = self.mutate_unit(g, rng.randrange(units), rng)
                if self.layers_of(cand) <= self.max_layers:
                    break
            g = cand
        return g

    def mutate_unit(self, g: Genome, unit: int, rng: random.Random) -> Genome:
        x = list(g)
        if unit == 0:
            new = min(self.max_width, round8(x[0] * rng.choice(self.width_scales)))
            x[0] = min(self.stem_max_width, new, x[1])
            return tuple(x)
        base = 1 + FIELDS * (unit - 1)
        out, btn, kt, k, L = x[base: base + FIELDS]
        method = rng.randrange(4)
        if method == 0:  # out, keeping the expansion ratio
            ratio = self._closest_ratio(btn / out)
            new = min(self.max_width, round8(out * rng.choice(self.width_scales)))
            c_in = x[base - FIELDS] if unit > 1 else x[0]
            nxt = x[base + FIELDS] if unit < self.n_blocks else self.template.final.out
            new = min(nxt, max(c_in, new))
            x[base] = new
            x[base + 1] = round8(new * ratio)
        elif method == 1:  # kernel
            cur = (kt, k)
            new_k = cur
            for _ in range(len(self._kt_k)):
                new_k = rng.choice(self._kt_k)
                if new_k != cur:
                    break
            x[base + 2] = new_k[0]
            x[base + 3] = self.shrink(unit, new_k[1])
        elif method == 2:  # bottleneck ratio
            cur = self._closest_ratio(btn / out)
            ratio = cur
            for _ in range(len(self.btn_ratios)):
                ratio = rng.choice(self.btn_ratios)
                if ratio != cur:
                    break
            x[base + 1] = round8(out * ratio)
        else:  # layers
            new_l = L
            for _ in range(len(self.layer_deltas)):
                new_l = max(1, L + rng.choice(self.layer_deltas))
                if new_l != L:
                    break
            if unit == 1:
                new_l = min(self.first_block_max_layers, new_l)
            else:
                new_l = min(self._layer_cap, new_l)
            x[base + 4] = new_l
        return tuple(x)

    def _closest_ratio(self, r: float) -> float:
        return min(self.btn_ratios, key=lambda c: abs(c - r))

    def describe(self) -> dict:
        return {
            "kernels": [kernel_str(k) for k in self.kernels],
            "width_scales": list(self.width_scales),
            "btn_ratios": list(self.btn_ratios),
            "layer_deltas": list(self.layer_deltas),
            "max_width": self.max_width,
            "stem_max_width": self.stem_max_width,
            "first_block_max_layers": self.first_block_max_layers,
            "authors_layer_caps": self.authors_layer_caps,
            "blocks_per_step": self.blocks_per_step,
            "max_layers": self.max_layers,
            "resolution": self.resolution,
            "template": self.template.name,
        }


def check_genome(space: SearchSpace, g: Genome) -> list[str]:
    """Invariant violations of a genome (empty = fine): used by tests and as a guard on imported structures."""
    problems = []
    n = space.n_blocks
    if len(g) != 1 + FIELDS * n:
        return [f"genome has {len(g)} fields, expected {1 + FIELDS * n}"]
    if g[0] % 8 or not 8 <= g[0] <= space.stem_max_width:
        problems.append(f"stem width {g[0]} not a multiple of 8 in [8, {space.stem_max_width}]")
    prev = g[0]
    for i in range(n):
        out, btn, kt, k, L = g[1 + FIELDS * i: 1 + FIELDS * (i + 1)]
        if out % 8 or not 8 <= out <= space.max_width:
            problems.append(f"block {i}: out {out} not a multiple of 8 in [8, {space.max_width}]")
        if btn % 8 or btn < 8:
            problems.append(f"block {i}: btn {btn} not a positive multiple of 8")
        if out < prev:
            problems.append(f"block {i}: out {out} < input width {prev}")
        if L < 1:
            problems.append(f"block {i}: {L} layers")
        if space.shrink(i + 1, k) != k:
            problems.append(f"block {i}: kernel {k} too large for input size {space._in_sizes[i + 1]}")
        prev = out
    if prev > space.template.final.out:
        problems.append(f"last block out {prev} > final conv {space.template.final.out}")
    return problems


__all__ = ["SearchSpace", "SpaceError", "Genome", "PAPER_KERNELS", "parse_kernels", "round8", "check_genome"]
