"""Stage 07, the attack lab: every challenge is graded twice, once for the exploit and once for the fix.

The exploit: the student's exploit_*.py runs in its own process, in the stage folder,
against the vulnerable target (workshop/attack_lab/target/: the starter's server as it
was handed out), which the grader starts with flags chosen now, in a fresh process that
hides them (workshop/attack_lab/lab_secrets.py). The flag in the exploit's output is the
proof: it exists nowhere else a student's process can read.

The fix: the grader attacks the student's server with the whole class of the attack,
not only the payload the exploit uses (every key a public page shows, on both transports;
another principal's real handle, and counted ones; links that a prefix test, a port test,
a host test or a substring test lets through, each to a listener of its own), replays the
student's own exploit, and checks that the honest use still works: a server that refuses
everyone stops the attacker too, and earns nothing. The reference gets the same attacks.
"""

from __future__ import annotations

import hmac
import json
import random
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from grader.checks.common import test_imports, test_server_starts  # noqa: F401  (run first)
from grader.checks.declared import Declared
from grader.harness import Finished, Server, ServerDidNotStart, run_python
from grader.mcp_session import SessionResult, sse_session, streamable_session
from grader.probes import tail
from grader.stage_env import RunValues
from grader.stages import ROOT
from grader.verdict import CheckFailed, check
from workshop.attack_lab import weather_service
from workshop.attack_lab.lab_secrets import hide_this_process

TARGET = ROOT / "workshop" / "attack_lab" / "target"
EXPLOIT_TIMEOUT = 30.0
DEMO_KEY = "lab-demo-key-2026"  # the key the target's public page shows (the starter's access.py)
ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "grader", "version": "1"}}}


@dataclass(frozen=True)
class Challenge:
    name: str  # the hint topics exploit_<name> and fix_<name>
    exploit: str  # the student's script
    secret: str  # the environment variable that holds its flag
    prize: str  # what the flag stands for, in words


CHALLENGES = [
    Challenge("published_key", "exploit_published_key.py", "LAB_FLAG_VAULT", "the admin's vault"),
    Challenge("report_handle", "exploit_report_handle.py", "LAB_FLAG_REPORT", "the admin's report"),
    Challenge("upstream_token", "exploit_upstream_token.py", "UPSTREAM_TOKEN", "the server's upstream credential"),
]

DECLARED = Declared()


# -- the secrets the lab's servers hold --------------------------------------------------------------

def lab_values(seed: str) -> dict[str, str]:
    """The admin key and the flags of this run's student and reference servers, derived from the run's seed."""
    def derive(name: str) -> str:
        return hmac.new(seed.encode(), name.encode(), "sha256").hexdigest()[:24]

    return {"ADMIN_KEY": derive("admin-key"), **{c.secret: f"FLAG{{{derive(c.secret)}}}" for c in CHALLENGES}}


def fresh_values() -> dict[str, str]:
    """The target's: new randomness, related to nothing a submission is given."""
    return {"ADMIN_KEY": secrets.token_urlsafe(24),
            **{c.secret: f"FLAG{{{secrets.token_hex(12)}}}" for c in CHALLENGES}}


def start_upstream(token: str, note: str) -> weather_service.Service:
    """A weather service on a port of at most 4 digits (<= 6553), so that a port with one more digit
    exists for the prefix attack (http://127.0.0.1:5123 is a prefix of http://127.0.0.1:51230)."""
    for _ in range(40):
        try:
            service = weather_service.start(token, note, port=random.randint(2000, 6553))
            break
        except OSError:
            continue
    else:
        service = weather_service.start(token, note)
    return service


def prepare_lab(folder: Path, run_dir: Path, run: RunValues) -> dict[str, str]:
    """Stage 07's servers: the run's key for the student, the run's admin key and flags, a weather service."""
    values = lab_values(run.seed)
    upstream = start_upstream(values["UPSTREAM_TOKEN"], run.forecast_note)
    return {"API_KEY": run.key, **values, "UPSTREAM_URL": upstream.url}


def mcp_url(server: Server, transport: str = "/mcp") -> str:
    return server.base_url + transport


# -- the vulnerable target, for the exploits ---------------------------------------------------------

@dataclass
class Target:
    server: Server
    key: str  # the attacker's own key on it (a student of the team)
    values: dict[str, str]


@pytest.fixture(scope="module")
def target():
    # The grader holds the target's flags, to look for them in the exploit's output: from here on its
    # memory is closed to the student's processes (same user), as the target's is (a thief that reads
    # /proc/<pid>/mem instead of exploiting the hole finds nothing; tests/test_attack_lab_secrets.py).
    hide_this_process()
    values = fresh_values()
    upstream = start_upstream(values["UPSTREAM_TOKEN"], "")
    key = secrets.token_urlsafe(24)
    # A fresh interpreter (never the fork server): the flags pass through no process that keeps them.
    server = Server(TARGET, "lab_server:app", env={"API_KEY": key, **values, "UPSTREAM_URL": upstream.url},
                    label="target", fresh=True)
    try:
        server.wait_ready()
    except ServerDidNotStart as error:
        raise RuntimeError(f"grader problem: the vulnerable target did not start: {error}\n"
                           f"{tail(server.log())}") from None
    yield Target(server, key, values)
    server.stop()
    upstream.stop()


def run_exploit(folder: Path, challenge: Challenge, server: Server, key: str) -> Finished:
    return run_python(folder, [challenge.exploit], env={"MCP_SERVER_URL": mcp_url(server), "API_KEY": key},
                      timeout=EXPLOIT_TIMEOUT, label=f"exploit-{challenge.name}")


@pytest.mark.parametrize("challenge", CHALLENGES, ids=[c.exploit for c in CHALLENGES])
def test_your_exploit_captures_the_flag(challenge, launch, target, stage):
    """{id} captures its flag from the vulnerable server"""
    if launch.missing:
        pytest.skip(f"skipped: there is no folder {launch.student_dir}")
    flag = target.values[challenge.secret]
    result = run_exploit(launch.student_dir, challenge, target.server, target.key)
    got = f"no result: {result.why}\n" if result.timed_out else f"exit status {result.returncode}, output:\n"
    check(flag in result.output,
          sent=f"python {challenge.exploit}, with MCP_SERVER_URL={mcp_url(target.server)} (the vulnerable lab "
               "server, as the starter hands it out) and API_KEY=<your own key on it>",
          got=got + tail(result.output, 15),
          expected=f"{challenge.prize}: this run's flag, {flag}, in the output (only a working exploit can read it)",
          hint=stage.hint(f"exploit_{challenge.name}"))


# -- the fix: the class of each attack, the student's own exploit, and the honest use ------------------

def call(server: Server, key: str, tool: str, arguments: dict | None = None, transport: str = "/mcp") -> SessionResult:
    session = sse_session if transport == "/sse" else streamable_session
    return session(mcp_url(server, transport), {"X-API-Key": key}, tool, arguments or {})


def shown(result: SessionResult) -> str:
    return result.result_text if result.ok else f"({result.describe()})"


def initialize_status(server: Server, key: str, path: str = "/mcp") -> int:
    headers = {**ACCEPT, "X-API-Key": key}
    if path == "/sse":
        with httpx.stream("GET", server.base_url + "/sse", headers=headers, timeout=5.0, trust_env=False) as answer:
            return answer.status_code
    return httpx.post(server.base_url + path, json=INITIALIZE, headers=headers, timeout=5.0,
                      trust_env=False).status_code


def honest(condition: bool, *, sent: str, got: str, expected: str, stage) -> None:
    check(condition, sent=sent, got=got, expected=expected + " (the honest use must keep working)",
          hint=stage.hint("honest_use"))


def replay_exploit(launch, challenge: Challenge, server: Server, stage) -> None:
    """The student's own exploit, against the student's fixed server: it must capture nothing."""
    flag = server.env[challenge.secret]
    result = run_exploit(launch.student_dir, challenge, server, server.env["API_KEY"])
    check(flag not in result.output, sent=f"python {challenge.exploit} against your server",
          got=f"it captured {challenge.prize}:\n{tail(result.output, 10)}",
          expected="your own exploit captures nothing from your fixed server",
          hint=stage.hint(f"fix_{challenge.name}"))


def public_text(server: Server) -> str:
    """What the public pages show any visitor."""
    shown = []
    for path in ("/", "/health"):
        try:
            shown.append(httpx.get(server.base_url + path, timeout=5.0, trust_env=False).text)
        except httpx.HTTPError:
            continue
    return "\n".join(shown)


def keys_shown_publicly(server: Server) -> set[str]:
    """Every word of the public pages that could be a key: what any visitor can copy."""
    return set(re.findall(r"[A-Za-z0-9_.~+/=-]{8,}", public_text(server).replace("\\", " ")))


def published_key_is_refused(server: Server, stage, session) -> None:
    values = server.env
    owner = call(server, values["ADMIN_KEY"], "read_vault")
    honest(values["LAB_FLAG_VAULT"] in owner.result_text, sent="read_vault with ADMIN_KEY (the admin's own key)",
           got=shown(owner), expected="the vault's content", stage=stage)
    student = call(server, values["API_KEY"], "whoami")
    honest('"student"' in student.result_text, sent="whoami with API_KEY", got=shown(student),
           expected='{"principal": "student"}', stage=stage)
    private = {values["API_KEY"], values["ADMIN_KEY"]}
    public = public_text(server)
    for key, whose in ((values["API_KEY"], "API_KEY"), (values["ADMIN_KEY"], "ADMIN_KEY")):
        check(key not in public, sent="GET / and GET /health, without a key", got=f"the page shows {whose}'s value",
              expected="no key on a page every visitor sees (a key shown to everyone is everyone's)",
              hint=stage.hint("fix_published_key"))
    candidates = ({DEMO_KEY, DEMO_KEY.upper()} | keys_shown_publicly(server)) - private
    for key in sorted(candidates):
        for path in ("/mcp", "/sse"):
            status = initialize_status(server, key, path)
            check(status == 401, sent=f"{'POST /mcp initialize' if path == '/mcp' else 'GET /sse'} with "
                                      f"X-API-Key: {key!r} (a key anyone can read: on a public page or in the docs)",
                  got=f"{status}", expected="401: nobody handed that key to anyone",
                  hint=stage.hint("fix_published_key"))


def report_handle_is_bound(server: Server, stage, session) -> None:
    values = server.env
    admin, student = values["ADMIN_KEY"], values["API_KEY"]
    listed = call(server, admin, "my_reports")
    try:
        admin_handles = [str(handle) for handle in json.loads(listed.result_text)]
    except (ValueError, TypeError):
        admin_handles = []
    honest(bool(admin_handles), sent="my_reports with ADMIN_KEY", got=shown(listed),
           expected="a JSON list with the handle of the admin's report", stage=stage)
    own = call(server, admin, "read_report", {"handle": admin_handles[0]})
    honest(values["LAB_FLAG_REPORT"] in own.result_text, sent="read_report with ADMIN_KEY, the admin's own handle",
           got=shown(own), expected="the admin's report", stage=stage)
    body = f"notes {secrets.token_hex(4)}"
    written = call(server, student, "new_report", {"title": "mine", "body": body})
    mine = call(server, student, "read_report", {"handle": written.result_text.strip()})
    honest(body in mine.result_text, sent="new_report, then read_report with its handle, both with API_KEY",
           got=shown(mine), expected=f"the report just written ({body!r})", stage=stage)
    never = secrets.token_urlsafe(16)
    unknown = call(server, student, "read_report", {"handle": never}).result_text.replace(never, "<handle>")
    # The admin's real handle (as it would leak, in a log or a chat), near misses of it (a store that strips
    # or matches a prefix after its owner check), and counted guesses.
    near = [variant for handle in admin_handles for variant in (f"{handle} ", handle[:1], handle[:len(handle) // 2])
            if variant and variant not in admin_handles]
    for handle in [*admin_handles, *near, "0", "1", "2", "3"]:
        for transport in ("/mcp", "/sse"):
            stolen = call(server, student, "read_report", {"handle": handle}, transport=transport)
            sent = f"read_report({handle!r}) over {transport} with API_KEY (the handle of a report the admin wrote)" \
                if handle in admin_handles else f"read_report({handle!r}) over {transport} with API_KEY"
            check(values["LAB_FLAG_REPORT"] not in stolen.result_text, sent=sent, got=shown(stolen),
                  expected="not the admin's report: a handle names a report, it does not prove you may read it",
                  hint=stage.hint("fix_report_handle"))
            if handle in admin_handles:
                check(stolen.result_text.replace(handle, "<handle>") == unknown, sent=sent,
                      got=shown(stolen), expected=f"the answer a handle never issued gets: {unknown!r} (anything "
                                                  "else tells the attacker the handle exists)",
                      hint=stage.hint("fix_report_handle"))


def evil_links(upstream: str) -> list[tuple[str, str, weather_service.Service]]:
    """(what it is, link, its listener): links to listeners of the attacker's that naive checks let through."""
    home = httpx.URL(upstream)
    made: list[tuple[str, str, weather_service.Service]] = []

    def listen(host: str = "127.0.0.1", port: int = 0) -> weather_service.Service | None:
        try:
            return weather_service.start(token=None, host=host, port=port)
        except OSError:
            return None

    other = listen("127.0.0.3")  # off 127.0.0.1: no listener takes a port the grader chose for a server there
    made.append(("a listener of the attacker's", f"{other.url}/forecast/new-york", other))
    same_host = listen()
    made.append(("the service's host, another port: a test of the host alone lets it through",
                 f"{same_host.url}/forecast/new-york", same_host))
    for digit in "0123456789":  # http://127.0.0.1:5123 is a prefix of http://127.0.0.1:51230
        longer = listen(port=int(f"{home.port}{digit}")) if int(f"{home.port}{digit}") <= 65535 else None
        if longer is not None:
            made.append(("the service's port with one more digit: a prefix test lets it through",
                         f"{longer.url}/forecast/new-york", longer))
            break
    userinfo = listen("127.0.0.3")
    made.append(("the service's address as user info: a prefix test lets it through",
                 f"{upstream}@{userinfo.url.removeprefix('http://')}/forecast/new-york", userinfo))
    substring = listen("127.0.0.3")
    made.append(("the service's address in the query: a substring test lets it through",
                 f"{substring.url}/forecast/new-york?from={upstream}", substring))
    named = listen()
    made.append(("localhost, another port: a test of the host's address alone lets it through",
                 f"http://localhost:{httpx.URL(named.url).port}/forecast/new-york", named))
    six = listen(host="::1", port=home.port)  # the service listens on 127.0.0.1 only: [::1] is somebody else
    if six is not None:
        made.append(("the service's port on the IPv6 loopback: a list of loopback names lets it through",
                     f"{six.url}/forecast/new-york", six))
    same_port = listen(host="127.0.0.2", port=home.port)  # all of 127.0.0.0/8 is loopback on Linux
    if same_port is not None:
        made.append(("the service's port on another loopback address: a test of the port alone lets it through",
                     f"{same_port.url}/forecast/new-york", same_port))
    return made


def credential_stays_home(server: Server, stage, session) -> None:
    values, note = server.env, session.forecast_note
    upstream = weather_service.RUNNING[values["UPSTREAM_URL"]]
    links = call(server, values["API_KEY"], "list_forecasts")
    try:
        first = json.loads(links.result_text)["forecasts"][0]
    except (ValueError, KeyError, IndexError, TypeError):
        first = ""
    forecast = call(server, values["API_KEY"], "get_forecast", {"forecast_url": first})
    honest(bool(first) and note in forecast.result_text,
           sent=f"list_forecasts, then get_forecast with its first link ({first or 'none'})",
           got=shown(forecast), expected=f"the weather service's forecast (it carries this run's note, {note!r})",
           stage=stage)
    links = evil_links(upstream.url)
    try:
        for what, link, listener in links:
            link_is_refused(server, stage, what, link, listener)
    finally:
        for _, _, listener in links:
            listener.stop()


def link_is_refused(server: Server, stage, what: str, link: str, listener: weather_service.Service) -> None:
    call(server, server.env["API_KEY"], "get_forecast", {"forecast_url": link})
    carried = next((header for header in listener.authorizations() if header), "")
    check(not listener.seen, sent=f"get_forecast with forecast_url={link} ({what})",
          got=f"your server sent {len(listener.seen)} request(s) there, "
              + (f"with Authorization: {carried[:14]}..." if carried else "without its credential"),
          expected="no request at all: the link is not the weather service's (decided before anything is sent)",
          hint=stage.hint("fix_upstream_token"))


# Each challenge's attacks of its class and its honest use, for one server: (server, stage, session).
FIXES = {"published_key": published_key_is_refused, "report_handle": report_handle_is_bound,
         "upstream_token": credential_stays_home}


@pytest.mark.parametrize("challenge", CHALLENGES, ids=[f"fix {c.name.replace('_', ' ')}" for c in CHALLENGES])
def test_your_server_stops_the_whole_attack_and_keeps_the_honest_use(challenge, launch, session, student,
                                                                     reference, stage):
    """{id}: the grader's attacks of that class and your own exploit capture nothing; the honest use works"""
    try:
        FIXES[challenge.name](reference, stage, session)
    except CheckFailed as failure:
        raise RuntimeError(f"grader problem: the reference fails its own attack check:\n{failure}") from None
    FIXES[challenge.name](student, stage, session)
    replay_exploit(launch, challenge, student, stage)


@pytest.mark.unscored
def test_the_honest_client_still_works(launch, student, stage):
    """python client.py against your server: whoami, a report, a forecast"""
    result = run_python(launch.student_dir, [stage.client],
                        env={"MCP_SERVER_URL": mcp_url(student), "API_KEY": student.env["API_KEY"]},
                        timeout=EXPLOIT_TIMEOUT, label="client")
    check(result.ok and "forecast:" in result.output, sent=f"python {stage.client} against your server",
          got=f"exit status {result.returncode}:\n{tail(result.output, 12)}",
          expected="whoami, a report read back and a forecast", hint=stage.hint("honest_use"))


from grader.checks.common import test_server_is_still_running  # noqa: E402,F401  (runs last)
