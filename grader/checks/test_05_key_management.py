"""Stage 05: a key per client from a key store, stored hashed, rotated, limited per tool, rate-limited, audited.

Each server (the student's and the reference) starts on a fresh key database
with its own pepper (grader/stage_env.py). The checks issue, rotate and revoke
keys with the stage's own CLI (`python -m keys`, run in the stage folder with
that server's environment) and send every request to the running servers.
Requests that should fail each come from their own client address, a real one:
the grader binds 127.0.0.2, 127.0.0.3, ... as the connection's source (all of
127.0.0.0/8 reaches loopback), so the failure counters of one check never spill
into another. Each also carries an X-Forwarded-For naming yet another address:
servers run without trusting it (uvicorn --no-proxy-headers), and a guard that
reads the client address from that header never throttles anyone.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import json
import re
import secrets
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx2
import pytest
from mcp import ClientSession

from grader import attacks
from grader.checks import same_work
from grader.checks.declared import Declared
from grader.checks.common import credential_params, test_imports, test_server_starts  # noqa: F401  (run first)
from grader.compare import expect_like_reference, secret_slices
from grader.harness import Finished, Server, ServerDidNotStart, copy_without_dotenv, run_python
from grader.mcp_session import _explain, _with_client
from grader.probes import REQUEST_TIMEOUT, Answer, Probe, ensure_answering, send, tail
from grader.stages import ROOT
from grader.verdict import CheckFailed, check

ACCEPT = ("Accept", "application/json, text/event-stream")
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "grader", "version": "1"}}}
NEW_YORK = {"latitude": 40.7128, "longitude": -74.006}
RECORDED_FORECAST = json.loads(
    (ROOT / "workshop/recordings/nws/forecast-OKX-33,35.json").read_text())["properties"]["periods"][0]
KEY_PATTERN = re.compile(r"\b([a-z]+_([0-9A-Za-z]+)_[0-9A-Za-z]{20,})\b")
CLI_TIMEOUT = 30.0
SESSION_TIMEOUT = 15.0
MAX_FAILURES = 60  # a 429 must come before this many failed attempts (the lesson's limits: 20 and 5 a minute)

_addresses = (f"127.{second}.{third}.{fourth}" for second in itertools.count(5) for third in range(256)
              for fourth in range(1, 255))
_forged = (f"198.51.{third}.{fourth}" for third in itertools.count(100) for fourth in range(1, 255))


def fresh_address() -> str:
    """A loopback address no other request came from: a real source address the grader's connection binds."""
    return next(_addresses)


def forged_address() -> str:
    """A client address a request claims in X-Forwarded-For, new every time (TEST-NET-2, RFC 5737)."""
    return next(_forged)


# -- the stage's own CLI ---------------------------------------------------------------------------


@dataclass
class Issued:
    key: str
    key_id: str
    output: str


class CliFailed(Exception):
    def __init__(self, command: str, result: Finished) -> None:
        super().__init__(command)
        self.command, self.result = command, result


# Every file the stage's own processes (its CLI, beside its servers) opened for writing, per stage folder.
_written: dict[Path, dict[Path, None]] = {}


def keys_cli(server: Server, *args: str) -> Finished:
    """`python -m keys ARGS` in the server's folder, with its environment; the files it wrote are noted."""
    return noted(server.folder, run_python(server.folder, ["-m", "keys", *args], env=server.env,
                                           timeout=CLI_TIMEOUT, label="keys"))


def noted(folder: Path, result: Finished) -> Finished:
    _written.setdefault(folder, {}).update(dict.fromkeys(result.written))
    return result


def cli(server: Server, *args: str) -> Finished:
    result = keys_cli(server, *args)
    if not result.ok:
        raise CliFailed("python -m keys " + " ".join(args), result)
    return result


def issued_by(result: Finished) -> Issued:
    found = KEY_PATTERN.findall(result.output)
    if len(found) != 1:
        raise CliFailed("(reading the key it printed)", Finished(1, "expected exactly one key in the output, got "
                                                                    f"{len(found)}:\n{result.output}"))
    key, key_id = found[0]
    return Issued(key, key_id, result.output)


def issue(server: Server, client: str, tools: str, *extra: str) -> Issued:
    return issued_by(cli(server, "issue", "--client", client, "--tools", tools, *extra))


@dataclass
class Keys:
    """The keys the checks use on one server; `problem` says why they could not all be made."""

    forecast: Issued | None = None  # get_forecast and whoami
    sibling: Issued | None = None  # another key of the forecast key's client, with the same rights
    alerts: Issued | None = None  # get_alerts only
    expired: Issued | None = None  # rotated with no grace: its successor is `expired_successor`
    expired_successor: Issued | None = None
    rotating: Issued | None = None  # rotated with a day's grace: both it and `rotating_successor` work
    rotating_successor: Issued | None = None
    revoked: Issued | None = None  # revoked before any check
    to_revoke: Issued | None = None  # revoked by a check, while the server runs
    streamed: Issued | None = None  # opens a GET stream, then is revoked by a check while the stream is open
    throttled: Issued | None = None  # the target of wrong secrets
    table: Issued | None = None  # the shared attack table's key: its near misses fail against it alone
    unknown_key: str = ""  # well formed, with a good checksum, never issued
    wrong_secret: str = ""  # the forecast key's id with another secret
    problem: str = ""
    # Made first, so that its short life runs out while the other checks run (see short_lived_pair): a key
    # that expires soon, its successor, when the old one expires, and what the successor listed at once.
    short_lived: "ShortLived | None" = None
    short_lived_tools: "McpRun | None" = None
    short_lived_problem: CliFailed | None = None

    def all_issued(self) -> list[Issued]:
        return [value for value in vars(self).values() if isinstance(value, Issued)]


# Keys made with the stage's own key_format, never issued: one with a fresh id, one per id given.
FORGE = """
import sys
from key_format import new_key
print(new_key()[1])
for key_id in sys.argv[1:]:
    print(new_key(key_id=key_id)[1])
"""


def forge(server: Server, *key_ids: str) -> list[str]:
    made = noted(server.folder, run_python(server.folder, ["-c", FORGE, *key_ids], env=server.env,
                                           timeout=CLI_TIMEOUT, label="forge"))
    lines = made.output.split()
    if not made.ok or len(lines) != 1 + len(key_ids):
        raise CliFailed("python -c 'from key_format import new_key; print(new_key()[1])'", made)
    return lines


def make_keys(server: Server) -> Keys:
    keys = Keys()
    try:
        keys.short_lived, keys.short_lived_tools = short_lived_pair(server)
    except CliFailed as failed:
        keys.short_lived_problem = failed
    try:
        keys.unknown_key = forge(server)[0]
        keys.forecast = issue(server, "forecaster", "get_forecast,whoami")
        keys.sibling = issue(server, "forecaster", "get_forecast,whoami")
        keys.alerts = issue(server, "alerter", "get_alerts")
        keys.expired = issue(server, "rotated-at-once", "*")
        keys.expired_successor = issued_by(cli(server, "rotate", keys.expired.key_id, "--grace", "0"))
        keys.rotating = issue(server, "rotated-with-grace", "*")
        keys.rotating_successor = issued_by(cli(server, "rotate", keys.rotating.key_id, "--grace", "1d"))
        keys.revoked = issue(server, "revoked", "*")
        cli(server, "revoke", keys.revoked.key_id)
        keys.to_revoke = issue(server, "revoked-while-running", "*")
        keys.streamed = issue(server, "revoked-while-streaming", "*")
        keys.throttled = issue(server, "guessed-at", "*")
        keys.table = issue(server, "attack-table", "*")
        keys.wrong_secret = forge(server, keys.forecast.key_id)[1]
    except CliFailed as failed:
        output = failed.result.output
        for issued in keys.all_issued():
            output = output.replace(issued.key, "<a key>")
        keys.problem = f"`{failed.command}` in {server.folder.name}/ failed:\n{tail(output, 15)}"
    return keys


@pytest.fixture(scope="module")
def keys(student, reference) -> dict[str, Keys]:
    """Issue every key the checks need, on both servers at once."""
    with ThreadPoolExecutor(2) as pool:
        mine, theirs = pool.map(make_keys, [student, reference])
    if theirs.problem:
        raise RuntimeError(f"grader problem: the reference CLI failed: {theirs.problem}")
    return {"student": mine, "reference": theirs}


def need(keys: Keys, stage, *names: str) -> list[Issued]:
    """The named keys, or a failed check that shows why the CLI could not make them."""
    if keys.problem or any(getattr(keys, name) is None for name in names):
        raise CheckFailed(sent="python -m keys issue --client NAME --tools TOOLS (and rotate, revoke)",
                          got=keys.problem or "no key", expected="a key printed once per issue, exit status 0",
                          hint=stage.hint("hashing"))
    return [getattr(keys, name) for name in names]


# -- requests ----------------------------------------------------------------------------------------


def initialize(key: str | bytes | None, note: str, *, address: str | None = None,
               extra: tuple[tuple[str, str], ...] = ()) -> Probe:
    headers = [ACCEPT, ("X-Forwarded-For", forged_address()), *extra]
    if key is not None:
        headers.append(("X-API-Key", key))
    return Probe("POST", "/mcp", tuple(headers), INITIALIZE, note=note, source=address or fresh_address())


def crashed(got: Answer, probe: Probe, server: Server, stage) -> None:
    if got.status >= 500:
        raise CheckFailed(sent=probe.describe(),
                          got=f"{got.describe()}\nthe server's log ends:\n{tail(server.log(), 12)}",
                          expected="401 for a key that does not let its bearer in, 200 for one that does",
                          hint=stage.hint("crash"))


def judge(mine: Probe, theirs: Probe, student: Server, reference: Server, stage, *, let_in_hint: str,
          keep_out_hint: str) -> None:
    got, expected = send(student, mine), send(reference, theirs)
    crashed(got, mine, student, stage)
    expect_like_reference(mine, got, expected, let_in_hint=let_in_hint, keep_out_hint=keep_out_hint,
                          log=student.log(), challenge_hint=stage.hint("challenge"))


@dataclass
class McpRun:
    tools: list[str] = field(default_factory=list)
    calls: list[tuple[bool, str]] = field(default_factory=list)  # (succeeded, text or error) per call
    error: str = ""
    throttled: bool = False  # the session failed, and the key alone gets 429: the limiter counts valid keys

    def describe(self) -> str:
        if self.error:
            return f"the session failed: {self.error}"
        shown = ", ".join(f"{'ok' if ok else 'error'}: {text[:160]!r}" for ok, text in self.calls)
        return f"tools/list {self.tools}" + (f"; calls: {shown}" if shown else "")


async def _mcp(url: str, key: str, calls: list[tuple[str, dict]]) -> McpRun:
    run = McpRun()
    try:
        async with asyncio.timeout(SESSION_TIMEOUT):
            client = httpx2.AsyncClient(headers={"X-API-Key": key}, timeout=httpx2.Timeout(5.0, read=SESSION_TIMEOUT))
            async with _with_client(client, url) as streams:
                async with ClientSession(*streams[:2]) as session:
                    await session.initialize()
                    run.tools = sorted(tool.name for tool in (await session.list_tools()).tools)
                    for tool, arguments in calls:
                        try:
                            result = await session.call_tool(tool, arguments)
                        except Exception as error:  # a JSON-RPC error: the call was refused
                            run.calls.append((False, str(getattr(error, "message", "") or error)))
                            continue
                        text = "\n".join(getattr(part, "text", "") for part in result.content)
                        run.calls.append((not result.is_error, text))
    except TimeoutError:
        run.error = f"no progress within {SESSION_TIMEOUT:.0f} s"
    except BaseException as error:
        if isinstance(error, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
            raise
        run.error = _explain(error)
    return run


def mcp(server: Server, key: str, *calls: tuple[str, dict]) -> McpRun:
    ensure_answering(server)
    run = asyncio.run(_mcp(server.base_url + "/mcp", key, list(calls)))
    if run.error:  # the SDK client loses the status: ask once more, plainly, from the session's own address
        again = send(server, initialize(key, "the same key", address="127.0.0.1"))
        if again.status == 429:
            run.throttled = True
            run.error += f"; the same key, in one plain request: {again.describe()}"
    return run


def hint_for(stage, topic: str, *runs: McpRun) -> str:
    """The topic's hint, unless a valid key was throttled: that is the real cause, and shows first."""
    return stage.hint("not_throttled" if any(run.throttled for run in runs) else topic)


def both(function, *pairs):
    """FUNCTION on the student's and the reference's arguments at once."""
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda args: function(*args), pairs))


# -- the checks --------------------------------------------------------------------------------------


def test_issue_prints_the_key_once_and_list_never_shows_it(keys, student, stage):
    """`python -m keys issue` prints a key (prefix, id, secret, checksum); `list` shows its id, never the key"""
    forecast, = need(keys["student"], stage, "forecast")
    listed = cli(student, "list").output
    shown = [issued.key_id for issued in keys["student"].all_issued() if issued.key in listed]
    check(forecast.key_id in listed and not shown,
          sent="python -m keys issue --client forecaster --tools get_forecast,whoami; python -m keys list",
          got=f"a key with id {forecast.key_id}; `list` printed:\n"
              + tail(listed, 12).replace(forecast.key, "<the key>"),
          expected="`list` names the key id and never prints a key", hint=stage.hint("stored_hashed"))


def test_a_key_opens_an_mcp_session_and_gets_the_forecast(keys, student, reference, stage):
    """a key issued for get_forecast opens an MCP session and gets the recorded forecast"""
    mine, = need(keys["student"], stage, "forecast")
    got, expected = both(mcp, (student, mine.key, ("get_forecast", NEW_YORK)),
                         (reference, keys["reference"].forecast.key, ("get_forecast", NEW_YORK)))
    wanted = RECORDED_FORECAST["detailedForecast"]
    check(not got.error and got.calls and got.calls[0][0] and wanted in got.calls[0][1],
          sent=f"MCP session to /mcp with X-API-Key: <the forecast key>; tools/call get_forecast {NEW_YORK}",
          got=got.describe() + ("" if got.calls else f"\nthe server's log ends:\n{tail(student.log(), 12)}"),
          expected=f"{expected.describe()}", hint=hint_for(stage, "hashing", got))


def test_two_keys_with_different_rights_see_different_tools(keys, student, reference, stage):
    """two keys with different tool rights see different tool lists, each the reference's"""
    forecast, alerts = need(keys["student"], stage, "forecast", "alerts")
    theirs = keys["reference"]
    got = both(mcp, (student, forecast.key), (student, alerts.key))
    expected = both(mcp, (reference, theirs.forecast.key), (reference, theirs.alerts.key))
    check([run.tools for run in got] == [run.tools for run in expected] and not any(run.error for run in got),
          sent="tools/list with a key for get_forecast,whoami, then with a key for get_alerts",
          got=f"{got[0].describe()}; then {got[1].describe()}",
          expected=f"{expected[0].describe()}; then {expected[1].describe()}",
          hint=hint_for(stage, "rights_list", *got))


def test_a_key_is_refused_a_tool_it_may_not_call(keys, student, reference, stage):
    """a key is refused the tool it may not call, with an error that names it, while the key that may call it gets it"""
    forecast, alerts = need(keys["student"], stage, "forecast", "alerts")
    theirs = keys["reference"]
    california = ("get_alerts", {"state": "CA"})
    refused, allowed = both(mcp, (student, forecast.key, california), (student, alerts.key, california))
    expected, _ = both(mcp, (reference, theirs.forecast.key, california), (reference, theirs.alerts.key, california))
    ran = allowed.calls[0][1] if allowed.calls and allowed.calls[0][0] else ""
    refusal = refused.calls[0] if refused.calls else (True, "")
    check(not refused.error and not refusal[0] and "get_alerts" in refusal[1]
          and (not ran or ran[:40] not in refusal[1]),
          sent="tools/call get_alerts {'state': 'CA'} with a key for get_forecast,whoami only",
          got=refused.describe(),
          expected=f"an error that names the tool, and no alerts (the reference: {expected.describe()})",
          hint=hint_for(stage, "rights_call", refused))
    check(bool(ran), sent="tools/call get_alerts {'state': 'CA'} with a key for get_alerts",
          got=allowed.describe(), expected="the alerts for CA", hint=hint_for(stage, "rights_call", allowed))


def test_a_tool_can_read_who_called_it(keys, student, stage):
    """a tool (whoami) reads who called it: the client name and key id of the key"""
    forecast, = need(keys["student"], stage, "forecast")
    got = mcp(student, forecast.key, ("whoami", {}))
    try:
        said = json.loads(got.calls[0][1]) if got.calls and got.calls[0][0] else None
    except ValueError:
        said = None
    check(isinstance(said, dict) and said.get("client") == "forecaster" and said.get("key_id") == forecast.key_id,
          sent="tools/call whoami with the key issued for the client 'forecaster'",
          got=got.describe(), expected=f'{{"client": "forecaster", "key_id": "{forecast.key_id}"}}',
          hint=hint_for(stage, "identity", got))


REFUSED = {
    "no X-API-Key header": lambda keys: None,
    "a key with a wrong checksum (a typo)": lambda keys: keys.unknown_key[:-1] + ("A" if keys.unknown_key[-1] != "A"
                                                                                 else "B"),
    "a key cut short": lambda keys: keys.unknown_key[:-8],
    "the header twice: a well-formed key, a wrong one": lambda keys: None,
    "a well-formed key that was never issued": lambda keys: keys.unknown_key,
    "a real key id with another secret": lambda keys: keys.wrong_secret,
    "a key rotated with no grace period (expired)": lambda keys: keys.expired.key,
    "a revoked key": lambda keys: keys.revoked.key,
}
# The shared attack table, against a key each server issued itself. The starter refuses every key (its
# store cannot look one up yet), so the table's refusals are not this stage's work: they still run, and
# letting a near miss in costs the stage its share. A 429 (throttled) is as good a refusal as a 401.
DECLARED = Declared(
    unscored=frozenset({"test_credential"}),
    # The static comparison check reads the key store, where a presented key's digest meets the stored one.
    guarded_file="key_store.py", compares_digests=True)


@pytest.mark.parametrize("row", credential_params())
def test_credential(row, session, keys, student, reference, stage):
    """{id}: refused or let in as the reference does, with a key the server issued"""
    mine, theirs = need(keys["student"], stage, "table")[0], need(keys["reference"], stage, "table")[0]
    for endpoint_headers in [(ACCEPT,)]:
        probes = [replace(attacks.probe(row, issued.key, session.marker, "POST", "/mcp", INITIALIZE,
                                        (*endpoint_headers, ("X-Forwarded-For", forged_address()))),
                          source=fresh_address())
                  for issued in (mine, theirs)]
        got, expected = send(student, probes[0]), send(reference, probes[1])
        crashed(got, probes[0], student, stage)
        refusals = (401, 429)
        if expected.status in refusals and got.status in refusals and (got.status == 429 or got.challenge):
            continue
        hint = stage.hint("hashing")
        expect_like_reference(probes[0], got, expected, let_in_hint=hint, keep_out_hint=hint, log=student.log(),
                              challenge_hint=stage.hint("challenge"), secret=mine.key, leak_hint=stage.hint("leak"))


# Refused before the key store is asked: the starter refuses these already.
CHECKED_BEFORE_THE_STORE = {"no X-API-Key header", "a key with a wrong checksum (a typo)", "a key cut short",
                            "the header twice: a well-formed key, a wrong one"}


def refused_probe(name: str, keys: Keys) -> Probe:
    if name == "the header twice: a well-formed key, a wrong one":
        headers = (ACCEPT, ("X-Forwarded-For", forged_address()), ("X-API-Key", keys.unknown_key),
                   ("X-API-Key", "wrong"))
        return Probe("POST", "/mcp", headers, INITIALIZE, note=name, source=fresh_address())
    return initialize(REFUSED[name](keys), name)


@pytest.mark.parametrize("name", [pytest.param(name, marks=[pytest.mark.unscored] if name in CHECKED_BEFORE_THE_STORE
                                               else []) for name in REFUSED])
def test_refused_with_401_and_the_challenge(name, keys, student, reference, stage):
    """{id} is refused with 401 and WWW-Authenticate, like the reference refuses it"""
    if name not in CHECKED_BEFORE_THE_STORE:
        need(keys["student"], stage, "forecast", "expired", "revoked")
    elif not keys["student"].unknown_key:  # key_format.py itself is broken
        need(keys["student"], stage)
    hint = stage.hint("lifecycle" if name in ("a key rotated with no grace period (expired)", "a revoked key")
                      else "hashing")
    judge(refused_probe(name, keys["student"]), refused_probe(name, keys["reference"]), student, reference, stage,
          let_in_hint=hint, keep_out_hint=hint)


def unknown_like(answer: Answer, *key_ids: str) -> tuple[int, str, str]:
    """What a refusal says, with the key ids it was sent replaced: the same answer for every key id."""
    body = answer.body
    for key_id in key_ids:
        body = body.replace(key_id, "<key id>")
    return answer.status, " ".join(body.split()), answer.challenge or ""


def test_a_wrong_secret_for_a_revoked_or_expired_key_gets_the_unknown_keys_answer(keys, student, stage):
    """a revoked or expired key id with a wrong secret gets exactly the answer of a key never issued"""
    revoked, expired = need(keys["student"], stage, "revoked", "expired")
    forged = forge(student, revoked.key_id, expired.key_id)
    unknown = send(student, initialize(keys["student"].unknown_key, "a well-formed key that was never issued"))
    baseline = unknown_like(unknown, keys["student"].unknown_key.split("_")[1])
    for key, words, key_id in [(forged[1], "the revoked key's id with a wrong secret", revoked.key_id),
                               (forged[2], "the expired key's id with a wrong secret", expired.key_id)]:
        probe = initialize(key, words)
        got = send(student, probe)
        crashed(got, probe, student, stage)
        check(unknown_like(got, key_id) == baseline, sent=probe.describe(), got=got.describe(),
              expected=f"what a key never issued got: {unknown.describe()}", hint=stage.hint("status_after_secret"))


def test_an_unknown_key_id_costs_the_digest_and_comparison_of_a_known_one(keys, student, stage):
    """an unknown key id costs the work of a known id with a wrong secret: the digest, and the same compare_digest"""
    need(keys["student"], stage, "forecast")
    measured = same_work.measure(student.folder, student.env)
    sent = (f"in a subprocess in {student.folder.name}/, hashing and compare_digest counted: KeyStore.issue() into "
            f"a store of its own, then authenticate() with well-formed keys, {same_work.TRIALS} times each: "
            "(a) the issued key's id with another secret, (b) a fresh id never issued")
    if not isinstance(measured, same_work.Measured):
        raise CheckFailed(sent=sent, got=f"exit status {measured.returncode}:\n{tail(measured.output, 12)}",
                          expected="both refused as invalid, each with its counts", hint=stage.hint("hashing"))
    varied = "" if len({work.describe() for work in measured.unknown}) == 1 else " (the trials differed)"
    check(measured.same_work(), sent=sent,
          got=f"(a) {measured.known[0].describe()}\n(b) {measured.unknown[0].describe()}{varied}",
          expected="(b) does at least the hashing of (a), and the same compare_digest calls on values of the same "
                   "type and length: without a row, the presented key's digest is still compared, with the stand-in",
          hint=stage.hint("unknown_id_same_work"))


def test_a_new_pepper_makes_every_issued_key_fail(keys, student, reference, stage):
    """the server started again with another KEY_PEPPER refuses every key issued before (the digest is keyed)"""
    forecast, = need(keys["student"], stage, "forecast")
    other = secrets.token_urlsafe(32)
    again = Server(student.folder, stage.app, env={**student.env, "KEY_PEPPER": other}, label="student-new-pepper")
    try:
        try:
            again.wait_ready()
        except ServerDidNotStart as error:
            raise CheckFailed(sent=f"{again.where}, with the same KEYS_DB and another KEY_PEPPER",
                              got=f"{error}\n{tail(again.log())}", expected="the server starts",
                              hint=stage.hint("starts"))
        got = [send(again, initialize(issued.key, "a key issued under the first pepper"))
               for issued in (forecast, keys["student"].table)]
        check(all(answer.status == 401 for answer in got),
              sent="a second server on the same KEYS_DB with another KEY_PEPPER; POST /mcp with keys issued before",
              got="; ".join(answer.describe() for answer in got),
              expected="401 for every one: the stored digests were keyed with the old pepper",
              hint=stage.hint("pepper"))
    finally:
        again.stop()


def test_without_a_pepper_neither_the_server_nor_the_cli_starts(keys, student, reference, stage):
    """without KEY_PEPPER the server refuses to start and `python -m keys issue` issues nothing"""
    need(keys["student"], stage, "forecast")
    unset = {name: value for name, value in student.env.items() if name != "KEY_PEPPER"}
    without_pepper(copy_without_dotenv(student.folder), unset, keys, stage)


def without_pepper(folder: Path, unset: dict[str, str], keys, stage) -> None:
    issued = run_python(folder, ["-m", "keys", "issue", "--client", "no-pepper", "--tools", "*"], env=unset,
                        timeout=CLI_TIMEOUT, label="keys")
    check(not issued.ok and not KEY_PATTERN.search(issued.output),
          sent="python -m keys issue --client no-pepper --tools '*', with KEY_PEPPER unset",
          got=f"exit status {issued.returncode}:\n{tail(KEY_PATTERN.sub('<a key>', issued.output), 8)}",
          expected="a non-zero exit status and no key: without the pepper, no digest can be made",
          hint=stage.hint("pepper"))
    server = Server(folder, stage.app, env=unset, label="student-no-pepper")
    try:
        try:
            if server.refused_to_start():
                return
        except ServerDidNotStart as error:
            raise CheckFailed(sent=f"{server.where}, with KEY_PEPPER unset", got=f"it neither exited nor answered: {error}",
                              expected="the server exits at start-up, saying KEY_PEPPER is needed (fail closed)",
                              hint=stage.hint("pepper")) from None
        got = send(server, initialize(keys["student"].forecast.key, "a key issued with the pepper"))
        raise CheckFailed(sent=f"{server.where}, with KEY_PEPPER unset; then POST /mcp with a key",
                          got=f"the server started and answered {got.describe()}",
                          expected="the server exits at start-up, saying KEY_PEPPER is needed (fail closed)",
                          hint=stage.hint("pepper"))
    finally:
        server.stop()


def test_rights_are_whole_tool_names_never_prefixes(keys, student, reference, stage):
    """a key whose rights are pieces of real tool names (a prefix, a suffix) may call and see no tool"""
    need(keys["student"], stage, "table")
    listed = mcp(reference, keys["reference"].table.key)
    names = listed.tools
    if not names:
        raise RuntimeError(f"grader problem: the reference listed no tools: {listed.describe()}")
    pieces = sorted({piece for name in names if len(name) > 1
                     for cut in [secrets.choice(range(1, len(name)))] for piece in (name[:cut], name[cut:])})
    rights = ",".join(pieces)
    mine = issue(student, "pieces-of-names", rights)
    theirs = issue(reference, "pieces-of-names", rights)
    calls = [(name, NEW_YORK if name == "get_forecast" else {"state": "CA"} if name == "get_alerts" else {})
             for name in names]
    got, expected = both(mcp, (student, mine.key, *calls), (reference, theirs.key, *calls))
    ran = [name for name, (ok, _) in zip(names, got.calls) if ok]
    check(not got.error and got.tools == expected.tools and not ran and len(got.calls) == len(names),
          sent=f"python -m keys issue --tools '{rights}'; tools/list, then tools/call of every tool",
          got=got.describe(), expected=expected.describe() + " (every call refused)",
          hint=hint_for(stage, "rights_whole_names", got))


def test_rotation_keeps_the_old_key_for_its_grace_period(keys, student, reference, stage):
    """after a rotation the successor works; the old key works through its grace period and is refused after it"""
    rows = [("rotating", "the key rotated with a day's grace"), ("rotating_successor", "its successor"),
            ("expired", "the key rotated with no grace"), ("expired_successor", "its successor")]
    need(keys["student"], stage, *[name for name, _ in rows])
    for name, words in rows:
        judge(initialize(getattr(keys["student"], name).key, words),
              initialize(getattr(keys["reference"], name).key, words), student, reference, stage,
              let_in_hint=stage.hint("lifecycle"), keep_out_hint=stage.hint("lifecycle"))


def rotate_again(server: Server, key_id: str) -> Finished:
    return keys_cli(server, "rotate", key_id, "--grace", "1d")


def test_a_revoked_or_already_rotated_key_cannot_be_rotated(keys, student, reference, stage):
    """`python -m keys rotate` refuses a revoked key and a key rotated once already, as the reference does"""
    revoked, rotating = need(keys["student"], stage, "revoked", "rotating")
    for key_id, theirs, words in [(revoked.key_id, keys["reference"].revoked.key_id, "a revoked key"),
                                  (rotating.key_id, keys["reference"].rotating.key_id, "a key rotated once already")]:
        got, expected = both(rotate_again, (student, key_id), (reference, theirs))
        check(not got.ok and not KEY_PATTERN.search(got.output) and not expected.ok,
              sent=f"python -m keys rotate {key_id} --grace 1d ({words})",
              got=f"exit status {got.returncode}:\n{tail(KEY_PATTERN.sub('<a new key>', got.output), 6)}",
              expected=f"a refusal, exit status {expected.returncode}, and no new key (the reference: "
                       f"{tail(expected.output, 2).strip()!r})", hint=stage.hint("rotation"))


# Seconds a short-lived key lives: the shortest in which this machine issued it, rotated it and listed
# tools with its successor before it expired. Every second of it is a second each grading waits.
ROTATED_LIFETIMES = (3, 10, 30)
LISTED_BEFORE_EXPIRY = 0.5  # seconds to spare between the successor's tools/list and the old key's expiry


@dataclass
class ShortLived:
    old: Issued  # issued --expires-in LIFETIME seconds for get_alerts alone
    successor: Issued  # rotated at once, with a day's grace
    lifetime: int
    ends: float  # when the old key expires (and so its successor)


def rotated_pair(server: Server, lifetime: int) -> ShortLived:
    """A key for get_alerts alone that expires soon, and its successor (a day's grace)."""
    ends = time.time() + lifetime
    old = issue(server, "rotated-short-lived", "get_alerts", "--expires-in", f"{lifetime}s")
    return ShortLived(old, issued_by(cli(server, "rotate", old.key_id, "--grace", "1d")), lifetime, ends)


def short_lived_pair(server: Server) -> "tuple[ShortLived, McpRun | None]":
    """The pair, and the tools its successor listed while the old key still lived.

    Made first, with the shortest life this machine allows: a loaded machine that took too long to
    issue, rotate and list before the old key expired gets a longer-lived pair instead (the checks
    that use it wait for its expiry, so the short life is what keeps a grading quick)."""
    for lifetime in ROTATED_LIFETIMES:
        pair = rotated_pair(server, lifetime)
        if server.hung:  # (a hung server: the check says so, not every check that needs keys)
            return pair, None
        listed = mcp(server, pair.successor.key)
        if time.time() < pair.ends - LISTED_BEFORE_EXPIRY:
            break
    return pair, listed


def after_expiry(*pairs: ShortLived) -> None:
    """Wait until both old keys have expired, with room for an expiry the server stores in whole seconds."""
    time.sleep(max(0.0, max(pair.ends for pair in pairs) + 1.5 - time.time()))


def test_a_successor_has_the_old_keys_rights_and_expiry(keys, student, reference, stage):
    """a rotated key's successor sees only the old key's tools, and stops working when the old key would have"""
    need(keys["student"], stage, "forecast")
    failed = keys["student"].short_lived_problem
    if failed is not None:
        raise CheckFailed(sent=f"python -m keys issue ... --expires-in {ROTATED_LIFETIMES[0]}s; python -m keys rotate",
                          got=tail(KEY_PATTERN.sub("<a key>", failed.result.output), 8),
                          expected="a key, then its successor", hint=stage.hint("rotation"))
    if keys["reference"].short_lived_problem is not None:
        raise RuntimeError(f"grader problem: the reference could not rotate: {keys['reference'].short_lived_problem}")
    mine, theirs = keys["student"].short_lived, keys["reference"].short_lived
    ensure_answering(student)  # a server that hung before the keys were made listed nothing: this says so
    # Listed when the keys were made, right after the rotation: the old key had not expired yet.
    got, expected = keys["student"].short_lived_tools, keys["reference"].short_lived_tools
    check(not got.error and got.tools == expected.tools,
          sent="python -m keys issue --tools get_alerts; rotate it; tools/list with the successor",
          got=got.describe(), expected=expected.describe(), hint=hint_for(stage, "rotation", got))
    after_expiry(mine, theirs)
    late, late_expected = both(send, (student, initialize(mine.successor.key, "the successor, after the old key's expiry")),
                               (reference, initialize(theirs.successor.key, "the successor, after the old key's expiry")))
    check(late.status == late_expected.status == 401,
          sent=f"POST /mcp with the successor of a key issued --expires-in {mine.lifetime}s, once that passed",
          got=late.describe(), expected=late_expected.describe() + ": a rotation renews the secret, not the "
                                                                  "permission", hint=stage.hint("rotation"))


def test_a_key_rotated_before_its_own_expiry_still_ends_at_it(keys, student, reference, stage):
    """a key rotated before its own expiry still ends at its own expiry: the grace period never adds time"""
    need(keys["student"], stage, "forecast")
    mine, theirs = keys["student"].short_lived, keys["reference"].short_lived
    if mine is None or theirs is None:
        return  # the rotation itself failed: the successor's check above says why
    # The same key as above: issued to expire in seconds, rotated with a day's grace (the default) at once.
    after_expiry(mine, theirs)  # already past once the check above ran
    words = "the old key, rotated with a day's grace, after its own expiry"
    late, late_expected = both(send, (student, initialize(mine.old.key, words)),
                               (reference, initialize(theirs.old.key, words)))
    crashed(late, initialize(mine.old.key, words), student, stage)
    check(late.status == late_expected.status == 401,
          sent=f"python -m keys issue --expires-in {mine.lifetime}s; rotate it at once (--grace 1d); "
               f"POST /mcp with the old key once its {mine.lifetime} s passed",
          got=late.describe(), expected=late_expected.describe() + ": the old key ends when its grace ends or "
                                                                  "when it would have ended anyway, whichever "
                                                                  "comes first", hint=stage.hint("rotated_expiry"))


def session_probe(method: str, key: str, session_id: str, body: dict | None, note: str) -> Probe:
    headers = (ACCEPT, ("X-API-Key", key), ("Mcp-Session-Id", session_id), ("MCP-Protocol-Version", "2025-06-18"))
    return Probe(method, "/mcp", headers, body, note=note, source=fresh_address())


def other_key_on_a_session(server: Server, keys: Keys) -> list[Answer]:
    """A session opened with the forecast key, then used (a request, then DELETE) with its sibling: another key
    of the same client, with the same rights. Only the key differs, so a session bound to anything but the key
    (the client's name, its rights) answers it."""
    opened = send(server, initialize(keys.forecast.key, "the forecast key"))
    session_id = opened.headers.get("mcp-session-id", "")
    if not session_id:
        return [opened]
    listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
    return [opened, send(server, session_probe("POST", keys.sibling.key, session_id, listing, "another key")),
            send(server, session_probe("DELETE", keys.sibling.key, session_id, None, "another key"))]


def test_a_session_answers_only_the_key_that_opened_it(keys, student, reference, stage):
    """a session opened with one key is not found (404) for another valid key of the same client, nor is DELETE"""
    need(keys["student"], stage, "forecast", "sibling")
    got, expected = both(other_key_on_a_session, (student, keys["student"]), (reference, keys["reference"]))
    if len(expected) != 3 or expected[1].status != 404:
        raise RuntimeError(f"grader problem: the reference answered {[a.describe() for a in expected]}")
    check([answer.status for answer in got] == [answer.status for answer in expected],
          sent="initialize with key A (its Mcp-Session-Id); tools/list, then DELETE, on that session with key B, "
               "issued to the same client with the same tools",
          got="; ".join(answer.describe() for answer in got),
          expected="; ".join(answer.describe() for answer in expected), hint=stage.hint("session_owner"))


def test_a_key_revoked_with_the_cli_is_refused_by_the_running_server(keys, student, reference, stage):
    """a key revoked with `python -m keys revoke` is refused by the server already running, from the next request"""
    issued, = need(keys["student"], stage, "to_revoke")
    address = fresh_address()
    before = send(student, initialize(issued.key, "the key, before it is revoked", address=address))
    crashed(before, initialize(issued.key, "the key"), student, stage)
    both(lambda server, key_id: cli(server, "revoke", key_id), (student, issued.key_id),
         (reference, keys["reference"].to_revoke.key_id))
    probe = initialize(issued.key, "the same key, after `python -m keys revoke`", address=address)
    after = send(student, probe)
    expected = send(reference, initialize(keys["reference"].to_revoke.key, "the reference's key, revoked",
                                          address=address))
    check(before.status == 200 and after.status == 401 and after.challenge is not None and expected.status == 401,
          sent=f"{probe.describe()}; before the revocation it got {before.status}",
          got=after.describe(), expected="401 Unauthorized with a WWW-Authenticate header, at once",
          hint=stage.hint("lifecycle"))


STREAM_ENDS_WITHIN = 8.0  # seconds after the revocation (the reference ends a stream within about 2 s)


@dataclass
class Stream:
    """A GET /mcp event stream, opened with a key on a session that key opened (or why it could not be)."""

    opened: str  # what happened, in words: the status line of the GET, or the answer that stopped it
    status: int = 0
    connection: socket.socket | None = None
    received: bytes = b""

    def ended(self, deadline: float) -> bool:
        """Whether the server ended the stream (closed it, or sent its last chunk) before DEADLINE."""
        connection = self.connection
        while connection is not None:
            if self.received.endswith(b"\r\n0\r\n\r\n") or self.received == b"0\r\n\r\n":  # the last chunk
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            connection.settimeout(min(left, 1.0))
            try:
                data = connection.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return True  # reset: ended too
            if not data:
                return True
            self.received = (self.received + data)[-64:]
        return False

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()


def open_stream(server: Server, key: str) -> Stream:
    """initialize with KEY, notifications/initialized, then GET /mcp on that session: the stream a client
    keeps open for the server's messages (streamable HTTP, 2025-06-18)."""
    opened = send(server, initialize(key, "the key"))
    session_id = opened.headers.get("mcp-session-id", "")
    if opened.status != 200 or not session_id:
        return Stream(f"initialize got {opened.describe()}" + ("" if session_id else ", no Mcp-Session-Id"))
    send(server, session_probe("POST", key, session_id, {"jsonrpc": "2.0", "method": "notifications/initialized"},
                               "the key"))
    ensure_answering(server)
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=REQUEST_TIMEOUT,
                                          source_address=(fresh_address(), 0))
    request = (f"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nAccept: text/event-stream\r\n"
               f"X-API-Key: {key}\r\nMcp-Session-Id: {session_id}\r\nMCP-Protocol-Version: 2025-06-18\r\n"
               "Connection: close\r\n\r\n")
    connection.sendall(request.encode())
    head = b""
    try:
        while b"\r\n\r\n" not in head:
            data = connection.recv(65536)
            if not data:
                break
            head += data
    except OSError as error:
        connection.close()
        return Stream(f"GET /mcp got no answer: {error}")
    status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    stream = Stream(f"GET /mcp: {status_line}", status, connection, head.split(b"\r\n\r\n", 1)[-1][-64:])
    if status != 200:
        stream.close()
        stream.connection = None
    return stream


def test_a_get_stream_ends_soon_after_its_key_is_revoked(keys, student, reference, stage):
    """a GET stream opened with a key ends soon after that key is revoked with `python -m keys revoke`"""
    mine, = need(keys["student"], stage, "streamed")
    theirs = keys["reference"].streamed
    streams = both(open_stream, (student, mine.key), (reference, theirs.key))
    try:
        if streams[1].status != 200:
            raise RuntimeError(f"grader problem: the reference opened no stream: {streams[1].opened}")
        got = streams[0]
        if got.status == 405:
            return  # no GET streams at all: none can outlive its key
        check(got.status == 200, sent="initialize with a key; GET /mcp (Accept: text/event-stream) on its session",
              got=got.opened, expected=f"a stream, as the reference opens one ({streams[1].opened})",
              hint=stage.hint("stream_ends"))
        both(lambda server, key_id: cli(server, "revoke", key_id), (student, mine.key_id), (reference, theirs.key_id))
        deadline = time.monotonic() + STREAM_ENDS_WITHIN
        ended, reference_ended = both(lambda stream: stream.ended(deadline), (streams[0],), (streams[1],))
        if not reference_ended:
            raise RuntimeError(f"grader problem: the reference's stream outlived its key by {STREAM_ENDS_WITHIN:.0f} s")
        check(ended, sent=f"GET /mcp (an event stream) with a key; while it is open, "
                          f"python -m keys revoke {mine.key_id}",
              got=f"the stream still open {STREAM_ENDS_WITHIN:.0f} s after the revocation",
              expected="the server ends the stream within seconds: a stream lasts no longer than its key",
              hint=stage.hint("stream_ends"))
    finally:
        for stream in streams:
            stream.close()


def claimed_headers() -> tuple[tuple[str, str], ...]:
    """Headers a client chooses freely, each with a new value every time: a failure limit keyed on any of them
    (instead of the connection's real address, or the key id) never throttles anyone."""
    token = secrets.token_hex(6)
    forged = forged_address()
    return (("User-Agent", f"client/{token}"), ("X-Real-IP", forged), ("Forwarded", f"for={forged}"),
            ("True-Client-IP", forged), ("X-Client-IP", forged), ("CF-Connecting-IP", forged),
            ("X-Request-Id", token), ("X-Client-Id", token), ("Accept-Language", f"x-{token[:8]}"),
            ("Cookie", f"session={token}"))


def fail_until_throttled(server: Server, presented, address) -> tuple[int, Answer | None, list[int]]:
    """Send failing attempts until one gets 429; returns how many were sent, the 429 and every status seen."""
    statuses = []
    for attempt in range(1, MAX_FAILURES + 1):
        got = send(server, initialize(presented(attempt), "a wrong key", address=address(attempt),
                                      extra=claimed_headers()))
        statuses.append(got.status)
        if got.status == 429:
            return attempt, got, statuses
        if got.status != 401:
            break
    return len(statuses), None, statuses


def seen(statuses: list[int]) -> str:
    counts = {status: statuses.count(status) for status in dict.fromkeys(statuses)}
    return ", ".join(f"{count} x {status}" for status, count in counts.items())


def expect_throttled(got: Answer | None, sent: int, statuses: list[int], what: str, stage) -> None:
    check(got is not None, sent=f"{what}, up to {MAX_FAILURES} times", got=seen(statuses),
          expected=f"401s, then 429 Too Many Requests within {MAX_FAILURES} attempts", hint=stage.hint("throttle"))
    retry = got.headers.get("retry-after", "")
    check(retry_after_says_later(retry, time.time()), sent=f"{what}, {sent} times",
          got=got.describe() + (f", Retry-After: {retry}" if retry else ", no Retry-After header"),
          expected="429 with Retry-After: a number of seconds (at least 1), or an HTTP-date that has not passed "
                   "(RFC 9110 allows both)", hint=stage.hint("retry_after"))


def retry_after_says_later(value: str, received: float) -> bool:
    """Retry-After as RFC 9110 section 10.2.3 allows it: delay-seconds, or an HTTP-date not yet past.

    An HTTP-date counts whole seconds, so one that names the second the answer arrived in still counts."""
    value = value.strip()
    if value.isdigit():
        return int(value) >= 1
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return False
    return when.tzinfo is not None and when.timestamp() >= int(received)


def test_wrong_keys_from_one_address_get_429_but_a_valid_key_from_there_gets_in(keys, student, stage):
    """repeated wrong keys from one address get 429 with Retry-After, while a valid key from that address gets in"""
    forecast, = need(keys["student"], stage, "forecast")
    address = fresh_address()
    sent, got, statuses = fail_until_throttled(student, lambda n: f"wrong-key-{n}", lambda n: address)
    expect_throttled(got, sent, statuses, f"X-API-Key: wrong-key-N from {address}, each with a new User-Agent "
                     "(and every other header a client chooses) and another address in X-Forwarded-For", stage)
    valid = send(student, initialize(forecast.key, "a valid key", address=address))
    check(valid.status == 200, sent=f"POST /mcp (a valid key) from {address}, right after its 429",
          got=valid.describe(), expected="200 OK: a valid key is never throttled by failures",
          hint=stage.hint("not_throttled"))


def test_wrong_secrets_for_one_key_id_get_429_but_its_holder_gets_in(keys, student, stage):
    """repeated wrong secrets for one key id, from many addresses, get 429, while the key's holder gets in"""
    target, = need(keys["student"], stage, "throttled")
    # Another secret every time: a count kept per presented key (not per key id) never reaches its limit.
    wrong = forge(student, *[target.key_id] * MAX_FAILURES)[1:]
    sent, got, statuses = fail_until_throttled(student, lambda n: wrong[n - 1], lambda n: fresh_address())
    expect_throttled(got, sent, statuses, f"the key id {target.key_id} with a new wrong secret each time, each from "
                     "a new address", stage)
    valid = send(student, initialize(target.key, "the right key"))
    check(valid.status == 200, sent=f"POST /mcp (the right key for {target.key_id}) right after its 429",
          got=valid.describe(), expected="200 OK: the key's holder is never locked out by someone else's guesses",
          hint=stage.hint("not_throttled"))


def test_the_client_gets_the_forecast_with_its_key(keys, student, stage, imports_ok):
    """client.py, with a key issued for get_forecast, prints the recorded forecast"""
    forecast, = need(keys["student"], stage, "forecast")
    url = student.base_url + "/mcp"
    ran = noted(student.folder, run_python(student.folder, [stage.client],
                                           env={"MCP_SERVER_URL": url, "API_KEY": forecast.key}, timeout=90,
                                           label="client"))
    wanted = RECORDED_FORECAST["detailedForecast"]
    check(ran.ok and wanted in ran.output,
          sent=f"MCP_SERVER_URL={url} API_KEY=<the forecast key> python {stage.client}",
          got=f"exit status {ran.returncode}:\n{tail(ran.output.replace(forecast.key, '<the key>'))}",
          expected=f"exit status 0 and the recorded forecast ({wanted!r})", hint=stage.hint("client"))


AUDIT_FIELDS = {"time", "key_id", "client", "method", "tool", "outcome"}


def test_every_mcp_request_is_in_the_audit_log(keys, student, stage):
    """the audit log holds a JSON line per request: the tool calls allowed and refused, and the refused keys"""
    forecast, = need(keys["student"], stage, "forecast")
    path = Path(student.env["AUDIT_LOG"])
    text = path.read_text(errors="replace") if path.exists() else ""
    entries, broken = [], []
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            (entries if isinstance(entry, dict) else broken).append(entry)
        except ValueError:
            broken.append(line)
    mine = [entry for entry in entries if entry.get("key_id") == forecast.key_id]
    wanted = {
        "tools/call get_forecast, outcome ok": lambda entry: entry.get("method") == "tools/call"
        and entry.get("tool") == "get_forecast" and entry.get("outcome") == "ok",
        "tools/call get_alerts, with its outcome": lambda entry: entry.get("method") == "tools/call"
        and entry.get("tool") == "get_alerts" and bool(entry.get("outcome")),
    }
    # The refused rows above sent this key id with another secret: that failure is written down too.
    wanted["a request refused for a wrong secret"] = lambda entry: entry.get("tool") is None \
        and entry.get("outcome") != "ok"
    missing = [words for words, test in wanted.items() if not any(test(entry) for entry in mine)]
    incomplete = [entry for entry in entries if not AUDIT_FIELDS <= set(entry)]
    shown = "\n".join(text.splitlines()[-8:])
    for issued in keys["student"].all_issued():
        shown = shown.replace(issued.key, "<a key>")
    check(text and not broken and not incomplete and not missing,
          sent=f"every request above; then read AUDIT_LOG ({path.name})",
          got=(f"{len(entries)} JSON lines" + (f", {len(broken)} lines that are not JSON objects" if broken else "")
               + (f", {len(incomplete)} lacking {sorted(AUDIT_FIELDS - set(incomplete[0]))}" if incomplete else "")
               + (f"; no line for: {'; '.join(missing)}" if missing else "") + f"; the log ends:\n{tail(shown, 8)}"),
          expected=f"one JSON object per line with {sorted(AUDIT_FIELDS)}, for the key {forecast.key_id}: "
                   + "; ".join(wanted), hint=stage.hint("audit"))


def audit_lines(server: Server) -> list[str]:
    path = Path(server.env["AUDIT_LOG"])
    return path.read_text(errors="replace").splitlines() if path.exists() else []


def written_after(server: Server, before: int, at_least: int = 0) -> list[str]:
    """The audit lines written after the first BEFORE, waiting a moment for AT_LEAST of them (a buffered writer)."""
    deadline = time.monotonic() + 3.0
    while len(audit_lines(server)) - before < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
    return audit_lines(server)[before:]


def shown_entries(lines: list[str]) -> str:
    return tail("\n".join(lines), 6) if lines else "(none)"


def test_refusals_without_a_key_id_are_audited_and_a_throttled_burst_once(keys, student, stage):
    """refusals with no key id (no header, a malformed key, two headers) are in the audit log; a throttled
    burst adds one line, not one per request"""
    forecast, = need(keys["student"], stage, "forecast")
    refusals = [initialize(None, "no X-API-Key header"),
                initialize(f"key-{secrets.token_hex(8)}", "a malformed key"),
                Probe("POST", "/mcp", (ACCEPT, ("X-API-Key", forecast.key), ("X-API-Key", forecast.key)),
                      INITIALIZE, note="the header twice", source=fresh_address())]
    before = len(audit_lines(student))
    got = [send(student, probe) for probe in refusals]
    new = written_after(student, before, at_least=len(refusals))
    check(len(new) >= len(refusals) and all(answer.status in (401, 429) for answer in got),
          sent="; ".join(probe.describe() for probe in refusals),
          got=f"{'; '.join(answer.describe() for answer in got)}; {len(new)} new audit line(s):\n{shown_entries(new)}",
          expected="401 for each, and a line in the audit log for each: a refusal without a key id is written down "
                   "too (key_id null)", hint=stage.hint("audit"))
    address = fresh_address()
    sent, throttled, statuses = fail_until_throttled(student, lambda n: f"wrong-key-{n}", lambda n: address)
    if throttled is None:
        return  # no 429 at all: the failure-limit checks above say so; there is no burst to count here
    before = len(audit_lines(student))
    more = [send(student, initialize(f"wrong-again-{n}", "a wrong key", address=address)).status
            for n in range(BURST)]
    new = written_after(student, before)
    check(len(new) <= 1 and set(more) == {429}, sent=f"{BURST} more wrong keys from {address}, right after its 429",
          got=f"{seen(more)}; {len(new)} new audit line(s):\n{shown_entries(new)}",
          expected="429 each, and at most one audit line for the burst: a scanner must not fill the disk "
                   "through the log", hint=stage.hint("audit"))


BURST = 20


def written_during_grading(student: Server, started_at: float) -> dict[Path, str]:
    """Every file the student's code may have put a key in, and how to name it: the key database (and its
    journals), the audit log, any other file in their folders, any file in the stage folder changed since
    grading began, and any file the student's server or CLI opened for writing, wherever it is."""
    database, audit = Path(student.env["KEYS_DB"]), Path(student.env["AUDIT_LOG"])
    places = {path: f"the database ({path.name})" for path in sorted(database.parent.glob(database.name + "*"))}
    places[audit] = "the audit log"
    for folder, beside in {audit.parent: "the audit log", database.parent: "the database"}.items():
        for path in sorted(folder.rglob("*")):
            places.setdefault(path, f"the file {path.name}, beside {beside}")
    for path in sorted(student.folder.rglob("*")):
        try:
            if "__pycache__" not in path.parts and path.is_file() and path.stat().st_mtime >= started_at:
                places.setdefault(path, f"the file {path.relative_to(student.folder)}, written during grading")
        except OSError:
            continue
    for path in [*student.written(), *_written.get(student.folder, {})]:
        if not path.is_relative_to("/dev") and not path.is_relative_to("/proc"):
            places.setdefault(path, f"the file {path}, which your code wrote")
    return places


def content_of(path: Path) -> bytes:
    try:
        with path.open("rb") as file:
            return file.read(20_000_000) if path.is_file() else b""
    except OSError:
        return b""


@pytest.mark.unscored
@pytest.mark.gate
def test_no_key_in_the_database_the_audit_log_or_the_output(keys, student, session, stage):
    """no key (nor its secret) is in the database file, the audit log, any file your code wrote or its output"""
    need(keys["student"], stage, "forecast")
    issued = keys["student"].all_issued()
    places = {place: content_of(path) for path, place in written_during_grading(student, session.started_at).items()}
    places["the server's output"] = "\n".join(line for line in student.log().splitlines()
                                             if session.marker not in line).encode()
    found = []
    for place, content in places.items():
        for key in issued:
            secret = key.key.split("_")[-1]
            if key.key.encode() in content or any(piece.encode() in content for piece in secret_slices(secret, 12)):
                found.append(f"{place} holds the key {key.key_id} (or a piece of its secret)")
                break
        if session.key.encode() in content and place != "the server's output":
            found.append(f"{place} holds the pepper")
    check(not found, sent=f"read the database, the audit log, every other file your server and `python -m keys` "
                          f"wrote, and the server's output, after {len(issued)} keys were issued and used",
          got="; ".join(found), expected="only key ids and keyed hashes: never a key, never the pepper "
                                       "(no points for this stage while one is there)",
          hint=stage.hint("stored_hashed"))


def test_a_restart_keeps_the_keys(keys, student, stage):
    """the server started again on the same database lets the same key in (the keys live on disk)"""
    forecast, = need(keys["student"], stage, "forecast")
    again = Server(student.folder, stage.app, env=student.env, label="student-restarted")
    try:
        try:
            again.wait_ready()
        except ServerDidNotStart as error:
            raise CheckFailed(sent=f"{again.where}, with the same KEYS_DB and KEY_PEPPER", got=f"{error}\n"
                              f"{tail(again.log())}", expected="the server starts again", hint=stage.hint("starts"))
        got = send(again, initialize(forecast.key, "the key issued before the restart"))
        check(got.status == 200, sent="a second server on the same KEYS_DB; POST /mcp (the key issued before)",
              got=got.describe(), expected="200 OK: the key is in the database, not in a process's memory",
              hint=stage.hint("hashing"))
    finally:
        again.stop()


from grader.checks.leaks import test_the_key_never_appears_in_the_server_output  # noqa: E402,F401
from grader.checks.timing import test_the_comparison_is_constant_time  # noqa: E402,F401
from grader.checks.common import test_server_is_still_running  # noqa: E402,F401  (runs last)
