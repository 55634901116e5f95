"""The search's per-candidate evaluator: conv+linear MACs, parameters, layers and the score of a genome, incremental.

A step mutates at most two units, so most super blocks of a child are identical (same input width, same fields) to
its parent's. Each super block's (MACs, params, score) is a closed form of (index, c_in, out, btn, kt, k, L), memoised
in a dict: a candidate costs a handful of dict lookups plus the few new blocks' closed forms.

The closed forms restate e3d.arch.cost (the one cost model) and e3d.score.entropy (the one score) for the uniform
blocks of the k1dwk1 space only; tests/test_search_fast.py checks them equal to `cost.cost` and `score_spec` on
hundreds of random genomes, so the two cannot drift apart silently.
"""

from __future__ import annotations

import math

from e3d.arch.cost import DEFAULT_NUM_CLASSES, out_size
from e3d.arch.space import FIELDS, Genome, SearchSpace
from e3d.score.entropy import block_score, conv_score

_CACHE_LIMIT = 2_000_000


class Evaluator:
    def __init__(self, space: SearchSpace, frames: int, kind: str = "stentr", alpha_resolution: int | None = None,
                 num_classes: int = DEFAULT_NUM_CLASSES, on_parallel: str = "invalid"):
        self.space = space
        self.frames = t = frames
        self.kind = kind
        self.on_parallel = on_parallel
        tpl = space.template
        res = space.resolution
        # conv output sizes (cost model: padding k // 2, odd kernels -> ceil(R / s)); T is unchanged (odd kt)
        skt, sk, _ = space.stem_kernel()
        r = out_size(res, sk, tpl.stem.stride)
        self._stem_area = t * r * r
        self._stem_kvol = tpl.in_channels * skt * sk * sk
        self._areas = []  # per block: (T * Rin^2, T * Rout^2)
        for b in tpl.blocks:
            r1 = out_size(r, 3, b.stride)  # the same for any odd kernel
            self._areas.append((t * r * r, t * r1 * r1))
            r = r1
        fkt, fk, _ = tpl.final.kernel
        self._final_kernel = tpl.final.kernel
        self._final_out = tpl.final.out
        self._final_kvol = fkt * fk * fk
        self._final_area = t * out_size(r, fk, tpl.final.stride) ** 2
        h = tpl.head
        self._head_macs = tpl.final.out * h.hidden + h.hidden * num_classes
        self._head_params = tpl.final.out * h.hidden + (h.hidden if h.hidden_bias else 0) + h.hidden * num_classes \
            + num_classes
        # score sizes: the authors' running int(R / s) at the alpha resolution
        ares = res if alpha_resolution is None else alpha_resolution
        s = int(ares / tpl.stem.stride)
        self._stem_size = s
        self._score_sizes = []
        for b in tpl.blocks:
            s = int(s / b.stride)
            self._score_sizes.append(s)
        self._final_size = int(s / tpl.final.stride)
        self._stem_score = {}
        self._final_score = {}
        self._cache: dict[tuple, tuple[int, int, float]] = {}
        self._log_final_out = math.log(tpl.final.out)

    def _block(self, i: int, c: int, out: int, btn: int, kt: int, k: int, L: int) -> tuple[int, int, float]:
        a_in, a_out = self._areas[i]
        dw = btn * kt * k * k
        rest = L - 1
        macs = c * btn * a_in + (dw + btn * out) * a_out + rest * (2 * out * btn + dw) * a_out
        params = c * btn + dw + btn * out + 4 * btn + 2 * out + rest * (2 * out * btn + dw + 4 * btn + 2 * out)
        sc = block_score(self.kind, self.frames, self._score_sizes[i], c, out, btn, kt, k, L, self.on_parallel)
        return macs, params, sc

    def evaluate(self, g: Genome) -> tuple[float, int, int, int]:
        """(score, macs, params, layers); score is inf-free: an undefined score is returned as -inf."""
        stem = g[0]
        st = self._stem_score.get(stem)
        if st is None:
            st = conv_score(self.kind, self.frames, self._stem_size, self.space.template.in_channels,
                            self.space.stem_kernel(), self.on_parallel)
            self._stem_score[stem] = st
        macs = self._stem_kvol * stem * self._stem_area
        params = self._stem_kvol * stem + 2 * stem
        score = st
        cache = self._cache
        c = stem
        layers = 2
        for i in range(len(self._areas)):
            base = 1 + FIELDS * i
            out, btn, kt, k, L = g[base: base + FIELDS]
            key = (i, c, out, btn, kt, k, L)
            v = cache.get(key)
            if v is None:
                if len(cache) > _CACHE_LIMIT:
                    cache.clear()
                v = cache[key] = self._block(i, c, out, btn, kt, k, L)
            macs += v[0]
            params += v[1]
            score += v[2]
            layers += 3 * L
            c = out
        fs = self._final_score.get(c)
        if fs is None:
            fs = self._final_score[c] = conv_score(self.kind, self.frames, self._final_size, c, self._final_kernel,
                                                   self.on_parallel)
        fo = self._final_out
        macs += c * fo * self._final_kvol * self._final_area + self._head_macs
        params += c * fo * self._final_kvol + 2 * fo + self._head_params
        score += fs + self._log_final_out
        if math.isinf(score) or score != score:
            score = -math.inf
        return score, macs, params, layers
