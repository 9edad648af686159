"""`make bench` runs: on tiny settings it loads each guard, grades a stage and a broken one, and writes its files.

A benchmark, not a test of speed: nothing here asserts a number, only that the
machinery works and says what it measured.
"""

import json
import subprocess
import sys

from grader.bench_guards import GUARDS
from grader.loadgen import Request, run_load
from grader.stages import ROOT


def test_the_quick_benchmark_writes_a_table_and_a_chart_per_benchmark_and_prints_where(tmp_path):
    out = tmp_path / "bench"
    run = subprocess.run([sys.executable, "-m", "grader.bench", "--quick", "--only", "guards", "--only", "verdict",
                          "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("guards", "verdict"):
        assert (out / f"{name}.md").read_text().count("|") > 10, run.stdout
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", run.stdout
        assert str(out / f"{name}.png") in run.stdout, run.stdout
    results = json.loads((out / "results.json").read_text())
    guards = {row["guard"] for row in results["guards"]["results"]}
    assert guards == {guard.name for guard in GUARDS}, results["guards"]
    assert all(row["rps"] > 0 and row["errors"] == 0 for row in results["guards"]["results"]), results["guards"]
    assert "vs none" in run.stdout and "pure ASGI guard keeps" in run.stdout, run.stdout
    broken = results["verdict"]["broken"]
    assert broken and broken[0]["returncode"] == 1 and "the code imports" in broken[0]["first_failure"], broken


def test_the_asyncio_fallback_load_counts_answers_and_refusals(tmp_path):
    """Without wrk the fallback loop does the loading: it must read whole answers and count non-2xx ones."""
    from grader.harness import Server

    server = Server(ROOT, "grader.bench_guards:app", env={"BENCH_GUARD": "pure-asgi", "API_KEY": "bench-test-key"},
                    label="fallback")
    try:
        server.wait_ready()
        let_in = run_load("127.0.0.1", server.port, Request("GET", "/health", (("X-API-Key", "bench-test-key"),)),
                          connections=2, seconds=0.5, use_wrk=False)
        refused = run_load("127.0.0.1", server.port, Request("GET", "/health"), connections=2, seconds=0.5,
                           use_wrk=False)
    finally:
        server.stop()
    assert "fallback" in let_in.tool
    assert let_in.requests > 0 and let_in.errors == 0, let_in
    assert refused.requests > 0 and refused.errors == refused.requests, refused
