"""Benchmark of ``hygie hunt``: parse-only vs full hunt, scaling with rule count, memory.

Run: ``make bench`` (or ``.venv/bin/python benchmarks/hunt.py [--big-mb 1024]``).
Needs ../shared (the EVTX attack samples and SigmaHQ rules). Everything runs on one core:
pyevtx-rs is asked for one thread. Each timing is CPU time of this process (robust to other
load on the machine), the best of ``--repeat`` passes, every pass with the engine's value
caches cleared, so repeated passes do not flatter the engine.
Ratios (hunt/parse, all rules/100 rules) are the machine-independent figures.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from hygie.detect.engine import Engine  # noqa: E402
from hygie.detect.sigma.loader import iter_rule_files, load_paths  # noqa: E402
from hygie.normalize.reader import read_events  # noqa: E402

SHARED = REPO.parent / "shared" / "corpora"
SAMPLES = SHARED / "evtx-attack-samples"
RULE_DIRS = [SHARED / "sigma" / "rules" / "windows", SHARED / "sigma" / "rules-emerging-threats",
             SHARED / "sigma" / "rules-threat-hunting" / "windows"]


def parse_only(paths: list[Path]) -> tuple[int, float]:
    started = time.process_time()
    count = sum(1 for _ in read_events(paths))
    return count, time.process_time() - started


def hunt(engine: Engine, paths: list[Path]) -> tuple[int, int, float]:
    engine.clear_caches()
    started = time.process_time()
    events = alerts = 0
    for found in engine.alerts_by_event(read_events(paths)):  # as ``hygie hunt`` does
        events += 1
        alerts += len(found)
    return events - 1, alerts, time.process_time() - started  # the last list: open windows


def build(files: list[Path]) -> tuple[Engine, float]:
    started = time.process_time()
    engine = Engine(load_paths(files))
    engine.warm_up()
    return engine, time.process_time() - started


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_big_input(target_mb: int, folder: Path) -> Path:
    """JSON lines (evtx_dump shape) from the attack samples, repeated up to ``target_mb``."""
    import evtx

    docs = []
    for path in sorted(SAMPLES.rglob("*.evtx")):
        try:
            for record in evtx.PyEvtxParser(str(path), number_of_threads=1).records_json():
                docs.append(orjson.dumps(orjson.loads(record["data"])))
        except RuntimeError:
            continue
    out = folder / "big.jsonl"
    written, target = 0, target_mb << 20
    with open(out, "wb") as handle:
        while written < target:
            for doc in docs:
                handle.write(doc + b"\n")
                written += len(doc) + 1
                if written >= target:
                    break
    return out


def memory_child(path: str) -> None:
    """Child process: hunt one file with all rules, print events and peak RSS."""
    files = [f for d in RULE_DIRS for f in iter_rule_files(d)]
    engine, _ = build(files)
    base = rss_mb()
    events, alerts, seconds = hunt(engine, [Path(path)])
    print(orjson.dumps({"events": events, "alerts": alerts, "seconds": seconds,
                        "rss_after_load_mb": base, "peak_rss_mb": rss_mb()}).decode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--big-mb", type=int, default=1024, help="size of the memory test input; 0 skips it")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        return
    if not SAMPLES.is_dir():
        sys.exit(f"benchmark needs {SAMPLES}")
    paths = [SAMPLES]
    all_files = [f for d in RULE_DIRS for f in iter_rule_files(d)]
    engines = {}
    for label, count in (("100 rules", 100), ("1000 rules", 1000), ("all rules", len(all_files))):
        step = max(1, len(all_files) // count)
        engines[label] = build(all_files[::step][:count])
    # Passes are interleaved (parse, 100, 1000, all, parse, ...) and the best of each kept, so
    # a machine whose speed drifts during the run skews every configuration alike.
    best_parse: tuple[int, float] | None = None
    best_hunt: dict[str, tuple[int, int, float]] = {}
    for _ in range(args.repeat):
        n, seconds = parse_only(paths)
        if best_parse is None or seconds < best_parse[1]:
            best_parse = (n, seconds)
        for label, (engine, _) in engines.items():
            result = hunt(engine, paths)
            if label not in best_hunt or result[-1] < best_hunt[label][-1]:
                best_hunt[label] = result
    assert best_parse is not None
    n, parse_s = best_parse
    print(f"corpus: {n:,} events from {SAMPLES}")
    print(f"parse only   : {parse_s:7.3f}s  {n / parse_s:10,.0f} events/s")
    for label, (engine, load_s) in engines.items():
        events, alerts, hunt_s = best_hunt[label]
        print(f"hunt {label:<10}: {hunt_s:7.3f}s  {events / hunt_s:10,.0f} events/s  "
              f"{alerts:6,} alerts  {len(engine.rules):5} rules compiled in {load_s:5.1f}s  "
              f"hunt/parse {hunt_s / parse_s:4.2f}")
    ratio = best_hunt["all rules"][-1] / best_hunt["100 rules"][-1]
    print(f"all rules / 100 rules time ratio: {ratio:.2f}")
    print(f"peak RSS (this process): {rss_mb():,.0f} MB")
    if args.big_mb:
        with tempfile.TemporaryDirectory() as tmp:
            big = make_big_input(args.big_mb, Path(tmp))
            size_mb = big.stat().st_size / (1 << 20)
            print(f"memory test: hunting {size_mb:,.0f} MB of JSON lines in a child process...")
            out = subprocess.run([sys.executable, __file__, "--memory-child", str(big)],
                                 check=True, capture_output=True, text=True).stdout
            figures = orjson.loads(out.strip().splitlines()[-1])
            print(f"  {figures['events']:,} events in {figures['seconds']:.1f}s "
                  f"({figures['events'] / figures['seconds']:,.0f} events/s), "
                  f"RSS after rule load {figures['rss_after_load_mb']:,.0f} MB, "
                  f"peak {figures['peak_rss_mb']:,.0f} MB")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
