"""How long a student waits for a verdict, beside the floor: the servers starting.

    python -m grader.bench [--repeat N]

For one stage and for all stages it prints the wall time of `python -m grader
--workdir solutions` and the time the same servers take just to start (the
student's and the reference, in parallel, as the grader starts them). The goal
is a verdict in at most twice that floor.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from grader.harness import Server
from grader.stages import ROOT, SOLUTIONS, load_stages

BENCH_ENV = {"API_KEY": "bench-key"}


def servers_start(stage_ids: list[str]) -> float:
    """Seconds for each stage's pair of servers to answer, stage after stage (as the grader goes)."""
    started = time.perf_counter()
    for stage in [stage for stage in load_stages() if stage.id in stage_ids]:
        pair = [Server(SOLUTIONS / stage.id, stage.app, env=BENCH_ENV, label="bench") for _ in range(2)]
        try:
            for server in pair:
                server.wait_ready()
        finally:
            for server in pair:
                server.stop()
    return time.perf_counter() - started


def verdict(stage_ids: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "grader", *stage_ids, "--workdir", str(SOLUTIONS)],
                   cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grader.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1)
    options = parser.parse_args(argv)
    stages = [stage.id for stage in load_stages()]
    rows = [("one stage (01)", stages[:1]), ("all stages", stages)]
    print(f"{'':16} {'verdict':>9} {'servers':>9} {'ratio':>7}  (median of {options.repeat})")
    worst = 0.0
    for label, ids in rows:
        floor = statistics.median(servers_start(ids) for _ in range(options.repeat))
        took = statistics.median(verdict(ids) for _ in range(options.repeat))
        worst = max(worst, took / floor)
        print(f"{label:16} {took:8.1f}s {floor:8.1f}s {took / floor:6.1f}x")
    print(f"\ntarget: at most 2.0x the server start-up floor; worst here {worst:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
