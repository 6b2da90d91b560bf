"""Splitting the sweeps over torchrun ranks (``medmap.parallel``): a launch over 2 CPU ranks (gloo) writes
the files of a single-process run with the same numbers, and the sharding and gathering logic holds."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

import medmap
from medmap import parallel
from medmap.errors import ConceptError, ConfigError, DistributedError
from tiny import saved_tiny

SRC = str(Path(medmap.__file__).resolve().parents[1])


# ---- sharding logic, in one process ----

@pytest.mark.parametrize("n,world", [(0, 2), (1, 2), (5, 2), (7, 3), (30, 4), (3, 8)])
def test_shards_cover_every_unit_once_and_are_balanced(n, world):
    shards = [parallel.shard(n, r, world) for r in range(world)]
    flat = sorted(i for s in shards for i in s)
    assert flat == list(range(n))
    sizes = [len(s) for s in shards]
    assert max(sizes) - min(sizes) <= 1
    assert all(shards[r] == list(range(r, n, world)) for r in range(world))  # round-robin


def test_shard_rejects_a_rank_outside_the_world():
    with pytest.raises(ValueError):
        parallel.shard(4, 2, 2)


def test_single_process_is_a_no_op(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert parallel.init() is False
    assert not parallel.active() and parallel.is_main() and parallel.world_size() == 1
    steps = []
    assert parallel.map_units(lambda u: u * u, [1, 2, 3], size=lambda u: u, on_step=steps.append) == [1, 4, 9]
    assert steps == [1, 2, 3]
    assert parallel.on_main(lambda: "x") == "x"
    assert parallel.broadcast(5) == 5 and parallel.all_gather(5) == [5]
    assert parallel.rank_device_map("auto") == "auto"


def test_launch_without_rendezvous_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    for k in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(DistributedError, match="MASTER_ADDR.*torchrun"):
        parallel.init()


def test_lesion_layers_split_over_ranks_give_the_same_numbers(tiny_llama, monkeypatch):
    """With batches that do not divide over the ranks, each batch's layers are split into blocks; the
    reassembled sweep equals the single-process sweep exactly."""
    from medmap.analyses import causal

    prompts = ["The first-line drug for type 2 diabetes is", "Chest pain points to the", "A 17-year-old is",
               "Wheezing suggests", "Insulin lowers blood"]
    answers = [" metformin", " heart", " a minor", " asthma", " glucose"]
    units = causal.lesion_units(len(prompts), 2, tiny_llama.n_layers, world=2)
    assert len(units) == 6 and {tuple(u[2]) for u in units} == {(0, 1), (2, 3)}
    assert causal.lesion_units(4, 2, tiny_llama.n_layers, world=2) == [(0, 2, [0, 1, 2, 3]), (2, 4, [0, 1, 2, 3])]
    ref = causal.lesion_scores(tiny_llama, prompts, answers, 2)
    monkeypatch.setattr(parallel, "world_size", lambda: 2)
    steps = []
    got = causal.lesion_scores(tiny_llama, prompts, answers, 2, steps.append)
    assert sum(steps) == len(prompts)
    assert set(got) == set(ref)
    for k in ref:
        assert torch.equal(got[k], ref[k]), k


# ---- gathering logic over 2 gloo processes (torch.multiprocessing, no torchrun) ----

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank, port):
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2", LOCAL_WORLD_SIZE="2",
                      MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), MEDMAP_DIST_BACKEND="gloo")
    assert parallel.init() and parallel.active()
    try:
        assert parallel.rank() == rank and parallel.is_main() == (rank == 0) and parallel.world_size() == 2
        steps = []
        out = parallel.map_units(lambda u: (u, parallel.rank()), list(range(7)), size=lambda u: 10 + u,
                                 on_step=steps.append)
        assert out == [(u, u % 2) for u in range(7)]
        # rank 0's progress covers every unit once all are gathered; the others see only their own
        assert sum(steps) == (sum(10 + u for u in range(7)) if rank == 0 else sum(10 + u for u in (1, 3, 5)))
        assert parallel.map_shard(lambda us: [u * 2 for u in us], range(5)) == [0, 2, 4, 6, 8]
        assert parallel.on_main(lambda: parallel.rank() + 40) == 40
        assert parallel.all_gather(rank) == [0, 1]
        assert parallel.broadcast("from 0" if rank == 0 else None) == "from 0"

        def bad(u):
            if u == 3:  # runs on rank 1
                raise ConceptError("item 3 is broken")
            return u

        with pytest.raises(ConceptError, match="item 3 is broken"):
            parallel.map_units(bad, range(4))

        class Unpicklable(Exception):
            def __init__(self, a, b):
                super().__init__(f"{a} {b}")

        def bad0():
            raise Unpicklable("disk", "full")

        with pytest.raises(Unpicklable if rank == 0 else DistributedError, match="disk full"):
            parallel.on_main(bad0)
        assert parallel.rank_device_map(None) is None  # CPU: one process per core, no GPU
        with pytest.raises(ConfigError, match="one rank per machine"):
            parallel.rank_device_map("auto")
        with pytest.raises(ConfigError, match="one rank per machine"):
            parallel.rank_device_map(None, "0=20GiB,cpu=60GiB")  # max_memory implies 'auto'
        assert parallel.rank_device_map("cpu") == "cpu"
        parallel.barrier()
    finally:
        parallel.shutdown()
    assert not parallel.active()


def test_map_units_gathers_in_unit_order_and_raises_everywhere():
    import torch.multiprocessing as mp

    mp.spawn(_worker, args=(_free_port(),), nprocs=2, join=True)


# ---- torchrun: 2 CPU ranks against one process ----

@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    from medmap.concepts import load_builtin, to_jsonl

    d = tmp_path_factory.mktemp("dist")
    saved_tiny(d / "model")
    age = load_builtin("age").subset(lambda it: it.template == "t0" and it.labels["age"] % 4 == 0)
    sym = load_builtin("symptoms").subset(lambda it: it.template == "t0")
    (d / "c.jsonl").write_text(to_jsonl(age) + to_jsonl(sym))
    # odd numbers of batches everywhere: 5 saliency groups, 5 lesion batches (layers split), 3 patching
    # batches, 6 and 11 capture batches; per-position patching too
    cfg = {"domains": ["age", "symptoms"], "concepts": str(d / "c.jsonl"),
           "analyze": {"capture_batch_size": 8,
                       "geometry": {"n_epochs": 30, "n_boot": 5, "workers": 1, "pca_dims": 10},
                       "causal": {"max_items": 10, "max_pairs": 10, "n_boot": 20, "batch_size": 2,
                                  "saliency_group": 2, "per_position": 1}}}
    (d / "run.yaml").write_text(yaml.safe_dump(cfg))
    return d


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env["MEDMAP_PROGRESS"] = "1"  # progress bars off a terminal too: the tests count them
    return env


def _medmap(d, *args, ranks=1):
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={ranks}",
              "-m", "medmap"] if ranks > 1 else [sys.executable, "-m", "medmap"]
    t = time.perf_counter()
    p = subprocess.run(launch + list(args) + ["--model", str(d / "model"), "--config", str(d / "run.yaml")],
                       capture_output=True, text=True, env=_env(), timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    return time.perf_counter() - t, p


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and "cache" not in p.parts and p.name != "stage_times.json"}


@pytest.fixture(scope="module")
def analyzed(setup, tmp_path_factory):
    """``analyze`` in this process and under torchrun with 2 ranks, into two folders."""
    from medmap.cli.main import main

    d = setup
    one, two = tmp_path_factory.mktemp("one"), tmp_path_factory.mktemp("two")
    t = time.perf_counter()
    main(["analyze", "--model", str(d / "model"), "--config", str(d / "run.yaml"), "--out", str(one)])
    t1 = time.perf_counter() - t
    t2, p = _medmap(d, "analyze", "--out", str(two), ranks=2)
    print(f"\nanalyze wall time: 1 process (in pytest) {t1:.1f} s, torchrun 2 ranks {t2:.1f} s")
    return one, two, p


@pytest.mark.distributed
def test_torchrun_two_ranks_write_what_one_process_writes(setup, analyzed):
    one, two, p = analyzed
    assert "(torchrun: 2 ranks)" in p.stderr
    assert p.stderr.count("capture symptoms") == 1  # progress bars on rank 0 only
    a, b = _files(one), _files(two)
    assert {"scores.csv", "scores.parquet", "patching.json", "config.json", "embeddings/age.json",
            "embeddings/symptoms.json"} <= set(a)
    assert set(a) == set(b)
    for name in a:
        assert a[name] == b[name], f"{name} differs between 1 process and 2 ranks"
    import pandas as pd

    s = pd.read_csv(two / "scores.csv")
    assert set(s.technique) == {"geometry", "saliency", "lesion", "patching", "lens"}
    assert "recovery.pos-0" in set(s.metric)
    # the cache the ranks wrote (rank 0 only) is the cache a single process writes, and reads
    def entries(f):
        return sorted(str(p.relative_to(f)) for p in (f / "cache").rglob("*")
                      if p.is_file() and p.name != "manifest.json")

    assert entries(one) == entries(two)
    manifests = {p: p.read_bytes() for p in (two / "cache").rglob("manifest.json")}
    # 2 captures, 10 (domain, technique) results, the reference set through the 4 techniques with a
    # specificity control
    assert len(manifests) == 2 + 2 * 5 + 4
    from medmap.cli.main import main

    main(["analyze", "--model", str(setup / "model"), "--config", str(setup / "run.yaml"), "--out", str(two)])
    assert {p: p.read_bytes() for p in (two / "cache").rglob("manifest.json")} == manifests  # nothing recomputed


@pytest.mark.distributed
def test_run_under_torchrun_writes_map_and_report_on_rank_0(setup, analyzed):
    """``medmap run`` under torchrun, resuming from the cache of the 2-rank analyze: rank 0 alone builds
    the map, findings and report; a second launch finds the run finished."""
    import pandas as pd

    from medmap.maps import build_map

    one, two, _ = analyzed
    manifests = {p: p.read_bytes() for p in (two / "cache").rglob("manifest.json")}
    _, p = _medmap(setup, "run", "--out", str(two), ranks=2)
    assert p.stderr.count("report:") == 1
    for f in ("map.csv", "findings.json", "report.html", "DONE.json"):
        assert (two / f).is_file(), f
    assert {p: p.read_bytes() for p in (two / "cache").rglob("manifest.json")} == manifests
    from medmap.concepts import resolve_sets
    from medmap.config import load_config
    from medmap.pipeline import primary_overrides

    cfg = load_config(setup / "run.yaml", {})
    primary = primary_overrides(cfg, resolve_sets(list(cfg.domains), cfg.concepts))
    ref = one / "ref_map"
    build_map(pd.read_csv(one / "scores.csv"), cfg.rules, primary).save(ref)  # the map the run builds
    assert (two / "map.csv").read_bytes() == (ref / "map.csv").read_bytes()
    _, p = _medmap(setup, "run", "--out", str(two), ranks=2)
    assert "already finished" in " ".join(p.stderr.split())


def test_a_dead_worker_is_a_one_line_error_and_the_pool_is_replaced():
    import os

    from medmap import parallel
    from medmap.errors import DistributedError

    with pytest.raises(DistributedError, match="if __name__ == \"__main__\""):
        list(parallel.pool_map(2, os._exit, [3, 3]))
    assert list(parallel.pool_map(2, abs, [-1, -2, 3])) == [1, 2, 3]
