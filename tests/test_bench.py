"""`make bench` runs: on tiny settings it loads each guard, grades a stage and a broken one, and writes its files.

A benchmark, not a test of speed: nothing here asserts a number, only that the
machinery works and says what it measured.
"""

import json
import subprocess
import sys

from bench.guards import GUARDS
from bench.loadgen import Request, run_load, run_loads
from grader.stages import ROOT


def test_the_quick_benchmark_writes_a_table_and_a_chart_per_benchmark_and_prints_where(tmp_path):
    out = tmp_path / "bench"
    run = subprocess.run([sys.executable, "-m", "bench", "--quick", "--only", "guards", "--only", "verdict",
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
    tool = results["guards"]["tool"]
    assert tool.split()[0] in ("wrk", "locust") and tool in run.stdout, (tool, run.stdout)
    broken = results["verdict"]["broken"]
    assert broken and broken[0]["returncode"] == 1 and "the code imports" in broken[0]["first_failure"], broken


def test_the_locust_fallback_counts_answers_and_refusals_per_target(tmp_path):
    """Without wrk a headless locust does the loading, one process for several targets in turn: it must
    count each target's answers, and count refusals as errors of the target that refused them."""
    from grader.harness import Server

    server = Server(ROOT, "bench.guards:app", env={"BENCH_GUARD": "pure-asgi", "API_KEY": "bench-test-key"},
                    label="fallback")
    try:
        server.wait_ready()
        let_in, refused = run_loads("127.0.0.1", [
            (server.port, Request("GET", "/health", (("X-API-Key", "bench-test-key"),))),
            (server.port, Request("GET", "/health")),
        ], connections=2, seconds=0.5, use_wrk=False)
        alone = run_load("127.0.0.1", server.port, Request("GET", "/health"), connections=2, seconds=0.5,
                         use_wrk=False)
    finally:
        server.stop()
    assert let_in.tool.startswith("locust "), let_in
    assert alone.requests > 0 and alone.errors == alone.requests, alone
    assert let_in.requests > 0 and let_in.errors == 0 and let_in.p50_ms <= let_in.p99_ms, let_in
    assert refused.requests > 0 and refused.errors == refused.requests, refused


class _CountingVerifier:
    """Stands in for stage 06's verifier: accepts "good" (expiring at `expires_at`), refuses the rest."""

    def __init__(self, expires_at: int) -> None:
        self.expires_at, self.calls = expires_at, 0

    async def verify_token(self, token):
        from mcp.server.auth.provider import AccessToken

        self.calls += 1
        if token != "good":
            return None
        return AccessToken(token=token, client_id="bench", scopes=[], expires_at=self.expires_at)


def test_the_benchmarks_token_cache_never_lets_a_token_outlive_its_expiry(monkeypatch):
    import asyncio

    from bench import guards as bench_guards

    now = [1_000_000.0]
    monkeypatch.setattr(bench_guards.time, "time", lambda: now[0])
    verifier = _CountingVerifier(expires_at=int(now[0]) + 10)
    cached = bench_guards.CachedVerifier(verifier)
    verify = lambda token: asyncio.run(cached.verify_token(token))  # noqa: E731

    assert verify("good") is not None and verify("good") is not None
    assert verifier.calls == 1, "a second use within its lifetime should come from the cache"
    assert verify("bad") is None and verify("bad") is None
    assert verifier.calls == 3, "a refusal must not be cached"
    now[0] += 10  # the token's exp: the cache must ask the verifier again, and the verifier decides
    verifier.expires_at = 0
    verify("good")
    assert verifier.calls == 4, "an entry outlived its token's expiry"


def test_the_benchmarks_token_cache_forgets_an_entry_after_max_age(monkeypatch):
    import asyncio

    from bench import guards as bench_guards

    now = [1_000_000.0]
    monkeypatch.setattr(bench_guards.time, "time", lambda: now[0])
    verifier = _CountingVerifier(expires_at=int(now[0]) + 3600)
    cached = bench_guards.CachedVerifier(verifier)
    asyncio.run(cached.verify_token("good"))
    now[0] += cached.MAX_AGE
    asyncio.run(cached.verify_token("good"))
    assert verifier.calls == 2, "an entry outlived MAX_AGE"
