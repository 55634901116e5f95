"""Evolutionary search maximising STEntr (or HomoEntr) under FLOPs / params / layer budgets (paper Algorithm 1 with
the semantics of the authors' TinyNAS searcher), deterministic for a seed whatever the number of workers, resumable.

Parallelism without giving up determinism: the population is evolved in epochs. In each epoch a fixed number of
*lanes* (config, default 16; NOT the number of workers) each run `sync_every` steady-state steps from the same
population with their own random stream (seeded by (seed, lane) and carried across epochs); then all lanes'
populations are merged (dedup by structure, best `population` kept). It follows the authors' distributed scheme
(TinyNAS: MPI workers each evolve the master's population for sync_size_ratio x popu_size steps, 1.0 x 256 in the E3D
configs, and the master merges every result and redistributes), made synchronous and with a fixed lane count so that
1, 2 or 16 worker processes compute bit-identical results. `sync_every` defaults to the population size, the authors'
rule. A longer interval under-converges: with 1,000 steps per lane, 100,000-iteration E3D-L searches ended at 393-394
against the released 411.8. Each lane's lineage advances iterations / lanes steps, so many lanes (32, 64) at the
paper's 100,000 iterations under-converge L too (README). Lanes are the unit of work handed to a process pool;
`workers` <= lanes are used.

One steady-state step (per lane): draw a parent uniformly, mutate two units (e3d.arch.space), drop it if its structure
is already in the population, evaluate it (e3d.search.fast), reject it when over a budget or when its score is
undefined (kernel parallel to the feature map, see e3d.score.entropy), else insert it and remove the worst.
Ties in score are broken by the genome tuple, so the order never depends on insertion history across lanes.

After every epoch the whole state (population, each lane's RNG state, counters, trace) can be checkpointed; it is
written atomically, so a killed search resumes at the last completed epoch and finishes with exactly the result an
uninterrupted run gives.
"""

from __future__ import annotations

import bisect
import dataclasses
import json
import math
import multiprocessing
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from e3d.arch.builtins import get_builtin
from e3d.arch.cost import DEFAULT_NUM_CLASSES
from e3d.arch.space import PAPER_KERNELS, Genome, SearchSpace, parse_kernels
from e3d.arch.spec import Kernel, kernel_str
from e3d.artifacts import write_bytes_atomic
from e3d.errors import E3DError
from e3d.progress import Progress
from e3d.provenance import config_digest
from e3d.score.registry import check_score_options
from e3d.score.registry import names as score_names
from e3d.search.evaluator import make_search_evaluator
from e3d.settingspec import check_fields, setting

STATE_VERSION = 1


class SearchError(E3DError, ValueError):
    """Search settings that cannot work (impossible budget, bad state dir, ...)."""


# A search run's kernels as the config spells them (a string; SearchConfig parses it).
KERNELS_PATTERN = "^[0-9]+x[0-9]+x[0-9]+(,[0-9]+x[0-9]+x[0-9]+)*$"
# The keys of a workflow search run (config search.runs.RUN) and those shared by all runs (config search.*): the
# SearchConfig fields the workflow sets; e3d.schemagen writes their schemas, e3d.commands.search their flags.
RUN_KEYS = ("template", "score", "score_options", "budget_gflops", "budget_params", "max_layers", "resolution",
            "frames", "alpha_resolution", "kernels", "iterations", "population", "seed")
SHARED_KEYS = ("lanes", "sync_every", "topk")
# A config-only run key: the one search space the engine has (not a SearchConfig field, so not in its digest).
SPACE_KEY = {"space": {"type": "string", "enum": ["e3d-k1dwk1"], "default": "e3d-k1dwk1",
                       "description": "the search space"}}


@dataclass(frozen=True)
class SearchConfig:
    """A search's settings, declared once: the workflow's search-run schema
    (workflow/schemas/generated/search_*.schema.yaml, `python -m e3d.schemagen --write`) and the `e3d search`
    flags come from these fields, and __post_init__ checks the same bounds."""

    max_layers: int = setting(minimum=1, doc="layer budget (3 per bottleneck layer + 2)")
    resolution: int = setting(minimum=1, doc="input resolution (square)")
    frames: int = setting(minimum=1, doc="input frames")
    iterations: int = setting(minimum=1, doc="candidates generated (rejected ones count)")
    population: int = setting(256, minimum=1)
    seed: int = setting(0)
    budget_gflops: float | None = setting(None, exclusiveMinimum=0,
                                          doc="conv+linear GMACs of one clip (the paper's GFLOPs)")
    budget_params: int | None = setting(None, minimum=1, doc="parameter budget (count)")
    score: str = setting("stentr", enum=score_names,
                         doc="e3d.score.registry names: analytic stentr/homoentr, forward zen/madet/forward")
    kernels: tuple[Kernel, ...] = setting(
        PAPER_KERNELS, doc="kernel set, comma separated KtxKxK",
        schema={"type": "string", "pattern": KERNELS_PATTERN, "default": ",".join(kernel_str(k) for k in PAPER_KERNELS)})
    template: str = setting("e3d-initial", doc="built-in initial structure: e3d-initial (the authors' configs, first "
                                               "block 1x5x5) or e3d-initial-table8 (paper Table 8 as printed, 3x3x3)")
    lanes: int = setting(16, minimum=1, doc="parallel lanes per epoch (fixed, so results do not depend on threads)")
    # Resolved here so the value is in the provenance.
    sync_every: int | None = setting(
        None, minimum=1,
        doc="steps per lane between population merges; null = the run's population size, the authors' rule (TinyNAS "
            "workers merge after sync_size_ratio x popu_size steps, with sync_size_ratio 1.0 in every E3D config)")
    alpha_resolution: int | None = setting(None, minimum=1,
                                           doc="resolution for alpha only; 160 reproduces the authors' M/L quirk")
    on_parallel: str = "invalid"
    num_classes: int = DEFAULT_NUM_CLASSES  # only the head's (constant) share of the FLOPs and params budget
    topk: int = setting(10, minimum=1, doc="best architectures kept in topk.json")
    # The search seed is a forward score's seed. Empty for the analytic scores, which have none.
    score_options: dict[str, Any] = setting(
        factory=dict, doc="options of a forward score (batch_size, repeats, device, gamma, stage_weights)")

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernels", parse_kernels(self.kernels))
        if self.sync_every is None and isinstance(self.population, int):
            object.__setattr__(self, "sync_every", self.population)
        if self.score not in score_names():
            raise SearchError(f"unknown score {self.score!r}; expected one of {', '.join(score_names())}")
        object.__setattr__(self, "score_options", check_score_options(self.score, self.score_options))
        check_fields(self, SearchError, "search setting ")
        if self.budget_gflops is None and self.budget_params is None:
            raise SearchError("give a budget: budget_gflops and/or budget_params")

    @property
    def budget_macs(self) -> float:
        return math.inf if self.budget_gflops is None else self.budget_gflops * 1e9

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["kernels"] = [kernel_str(k) for k in self.kernels]
        return d

    def space(self) -> SearchSpace:
        return SearchSpace(template=get_builtin(self.template), resolution=self.resolution,
                           max_layers=self.max_layers, kernels=self.kernels)


Entry = tuple  # (score, genome, macs, params): sorts by score, ties by genome


@dataclass
class LaneResult:
    population: list[Entry]
    rng_state: Any
    evaluated: int
    accepted: int
    duplicates: int


# ---- worker side -------------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def _evaluator(cfg: SearchConfig):
    key = config_digest(cfg.to_dict())
    if _WORKER.get("key") != key:
        space = cfg.space()
        # analytic scores: the incremental evaluator; forward scores (zen, madet, forward): e3d.search.evaluator
        _WORKER.update(key=key, space=space, ev=make_search_evaluator(cfg, space))
    return _WORKER["space"], _WORKER["ev"]


def run_lane(cfg: SearchConfig, population: list[Entry], rng_state: Any, steps: int) -> LaneResult:
    """`steps` steady-state steps on a copy of `population` (ascending)."""
    space, ev = _evaluator(cfg)
    rng = random.Random()
    rng.setstate(rng_state)
    items = list(population)
    members = {e[1] for e in items}
    cap = cfg.population
    max_macs = cfg.budget_macs
    max_params = math.inf if cfg.budget_params is None else cfg.budget_params
    max_layers = cfg.max_layers
    mutate, evaluate, randrange = space.mutate, ev.evaluate, rng.randrange
    evaluated = accepted = dups = 0
    for _ in range(steps):
        child = mutate(items[randrange(len(items))][1], rng)
        if child in members:
            dups += 1
            continue
        evaluated += 1
        score, macs, params, layers = evaluate(child)
        if layers > max_layers or macs > max_macs or params > max_params or score == -math.inf:
            continue
        accepted += 1
        entry = (score, child, macs, params)
        if len(items) >= cap:
            if entry < items[0]:
                continue
            bisect.insort(items, entry)
            members.discard(items.pop(0)[1])
        else:
            bisect.insort(items, entry)
        members.add(child)
    return LaneResult(items, rng.getstate(), evaluated, accepted, dups)


def _run_lane_packed(args):
    return run_lane(*args)


# ---- driver ------------------------------------------------------------------------------------------------------
def merge_populations(pops: list[list[Entry]], size: int) -> list[Entry]:
    """Union, dedup by genome, keep the best `size`; ascending (worst first)."""
    best: dict[Genome, Entry] = {}
    for pop in pops:
        for e in pop:
            best.setdefault(e[1], e)
    return sorted(best.values())[-size:]


@dataclass
class SearchState:
    config: dict[str, Any]
    done: int
    population: list[Entry]
    rng_states: list[Any]
    trace: list[dict[str, Any]] = field(default_factory=list)
    elapsed: float = 0.0
    evaluated: int = 0
    accepted: int = 0
    start: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps({
            "state_version": STATE_VERSION,
            "config": self.config,
            "done": self.done,
            "population": [[s, list(g), m, p] for s, g, m, p in self.population],
            "rng_states": [[v, list(st), g] for v, st, g in self.rng_states],
            "trace": self.trace,
            "elapsed": self.elapsed,
            "evaluated": self.evaluated,
            "accepted": self.accepted,
            "start": self.start,
        })

    @classmethod
    def from_json(cls, text: str, where: Path) -> "SearchState":
        try:
            d = json.loads(text)
            if d.get("state_version") != STATE_VERSION:
                raise SearchError(f"{where}: search state version {d.get('state_version')!r}, expected {STATE_VERSION}")
            return cls(
                config=d["config"], done=int(d["done"]),
                population=[(float(s), tuple(g), int(m), int(p)) for s, g, m, p in d["population"]],
                rng_states=[(v, tuple(st), g) for v, st, g in d["rng_states"]],
                trace=list(d["trace"]), elapsed=float(d["elapsed"]), evaluated=int(d["evaluated"]),
                accepted=int(d["accepted"]), start=dict(d.get("start", {})),
            )
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            if isinstance(exc, SearchError):
                raise
            raise SearchError(f"{where}: unreadable search state ({exc}); delete it to start over") from exc


@dataclass
class SearchResult:
    config: SearchConfig
    space: SearchSpace
    population: list[Entry]  # best first
    trace: list[dict[str, Any]]
    seconds: float
    evaluated: int
    accepted: int
    resumed_from: int
    start: dict[str, Any]

    @property
    def best(self) -> Entry:
        return self.population[0]


def initial_genome(cfg: SearchConfig, space: SearchSpace, ev) -> tuple[Genome, str]:
    """The template conformed to the kernel set if it fits the budgets, else the smallest network; error if even
    the smallest network does not fit (an impossible budget)."""

    def fits(g: Genome) -> tuple[bool, tuple]:
        s, m, p, l = ev.evaluate(g)
        return (l <= cfg.max_layers and m <= cfg.budget_macs
                and (cfg.budget_params is None or p <= cfg.budget_params) and s != -math.inf), (s, m, p, l)

    g0 = space.genome_from_spec(space.template)
    ok, _ = fits(g0)
    if ok:
        return g0, cfg.template
    small = space.smallest_genome()
    ok, (s, m, p, l) = fits(small)
    if not ok:
        need = []
        if cfg.budget_gflops is not None and m > cfg.budget_macs:
            need.append(f"{m * 1e-9:.4f} GFLOPs > budget {cfg.budget_gflops} GFLOPs")
        if cfg.budget_params is not None and p > cfg.budget_params:
            need.append(f"{p} params > budget {cfg.budget_params}")
        if s == -math.inf:
            need.append("its score is undefined at this input size")
        raise SearchError(
            f"impossible budget: the smallest network of the space ({cfg.resolution}px x {cfg.frames} frames) needs "
            + "; ".join(need or ["more than the limits"]))
    return small, "smallest"


def _lane_steps(total: int, lanes: int) -> list[int]:
    q, r = divmod(total, lanes)
    return [q + (1 if i < r else 0) for i in range(lanes)]


def run_search(cfg: SearchConfig, state_path: str | Path | None = None, workers: int = 1,
               checkpoint_seconds: float = 5.0, progress: bool = True) -> SearchResult:
    space = cfg.space()
    _, ev = _evaluator(cfg)
    cfg_dict = cfg.to_dict()
    state_path = Path(state_path) if state_path else None
    state: SearchState | None = None
    if state_path and state_path.exists():
        state = SearchState.from_json(state_path.read_text(), state_path)
        if state.config != json.loads(json.dumps(cfg_dict)):
            raise SearchError(f"{state_path}: holds a search with different settings; delete it or use another "
                              "state directory")
    if state is None:
        g0, origin = initial_genome(cfg, space, ev)
        s, m, p, _ = ev.evaluate(g0)
        state = SearchState(
            config=json.loads(json.dumps(cfg_dict)), done=0, population=[(s, g0, m, p)],
            rng_states=[random.Random(f"e3d-search:{cfg.seed}:{lane}").getstate() for lane in range(cfg.lanes)],
            start={"origin": origin, "genome": list(g0), "score": s, "gflops": m * 1e-9},
        )
    resumed_from = state.done
    workers = max(1, min(int(workers), cfg.lanes))
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    t0 = time.monotonic()
    base_elapsed = state.elapsed
    last_ckpt = time.monotonic()
    bar = Progress(total=cfg.iterations, desc=f"search {cfg.score}", unit="cand", every=2.0) if progress else None
    if bar:
        bar.done = state.done
    try:
        while state.done < cfg.iterations:
            chunk = min(cfg.lanes * cfg.sync_every, cfg.iterations - state.done)
            steps = _lane_steps(chunk, cfg.lanes)
            tasks = [(cfg, state.population, state.rng_states[i], steps[i]) for i in range(cfg.lanes)]
            results = pool.map(_run_lane_packed, tasks, chunksize=1) if pool else [_run_lane_packed(t) for t in tasks]
            state.population = merge_populations([r.population for r in results], cfg.population)
            state.rng_states = [r.rng_state for r in results]
            state.done += chunk
            ev_n = sum(r.evaluated for r in results)
            acc_n = sum(r.accepted for r in results)
            state.evaluated += ev_n
            state.accepted += acc_n
            state.elapsed = base_elapsed + (time.monotonic() - t0)
            best = state.population[-1]
            state.trace.append({
                "iteration": state.done,
                "best_score": best[0],
                "median_score": statistics.median(e[0] for e in state.population),
                "best_gflops": best[2] * 1e-9,
                "best_params": best[3],
                "population": len(state.population),
                "acceptance_rate": acc_n / chunk,
                "duplicate_rate": sum(r.duplicates for r in results) / chunk,
                "wall_time_s": state.elapsed,
            })
            if bar:
                bar.update(chunk, note=f"best {best[0]:.4f} @ {best[2] * 1e-9:.3f} G")
            now = time.monotonic()
            if state_path and (now - last_ckpt >= checkpoint_seconds or state.done >= cfg.iterations):
                write_bytes_atomic(state_path, state.to_json().encode())
                last_ckpt = now
    finally:
        if pool:
            pool.terminate()
            pool.join()
        if bar:
            bar.close()
    return SearchResult(cfg, space, list(reversed(state.population)), state.trace, state.elapsed, state.evaluated,
                        state.accepted, resumed_from, state.start)
