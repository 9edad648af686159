"""The grading session's rules, in process: validated stage data, results that fail closed, one attack table."""

from __future__ import annotations

import importlib
import textwrap
import tomllib

import pytest

from grader import attacks
from grader.session import CheckResult, GradingSession
from grader.stages import STAGES_FILE, StageDataError, load_stages, parse_stages
from grader.static import key_comparisons


def stage_data(**changes) -> dict:
    data = tomllib.loads(STAGES_FILE.read_text())
    data["stage"][0].update(changes)
    return data


@pytest.mark.parametrize("change,named", [
    ({"colour": "red"}, "unknown key(s) colour"),
    ({"points": "twenty"}, "points = 'twenty' has the wrong type"),
    ({"hints": {"register": ["a", "b", "c", "d"]}}, "hint 'register'"),
    ({"prepare": "grader/stage_env.py"}, "write module:function"),
])
def test_stage_data_is_refused_naming_the_stage_and_the_key(change, named):
    with pytest.raises(StageDataError) as refused:
        parse_stages(stage_data(**change))
    assert "01-middleware" in str(refused.value) and named in str(refused.value), str(refused.value)


def test_a_missing_field_is_named():
    data = stage_data()
    del data["stage"][1]["endpoint"]
    with pytest.raises(StageDataError, match="02-agent-headers lacks endpoint"):
        parse_stages(data)


def test_a_hint_a_check_asks_for_but_the_stage_lacks_is_named():
    stage = load_stages()[0]
    with pytest.raises(StageDataError, match="01-middleware has no hint 'nowhere'"):
        stage.hint("nowhere")


def test_a_hint_knows_its_levels_and_shows_the_first():
    hint = load_stages()[0].hint("register")
    assert str(hint) == hint.levels[0] and hint.topic == "register" and len(hint.levels) == 3
    assert hint.level(9) == hint.levels[-1]


def scored(session: GradingSession, *outcomes: tuple[str, bool, bool]) -> list[CheckResult]:
    stage = session.stages[0]
    for number, (outcome, is_scored, gate) in enumerate(outcomes):
        session.results[str(number)] = CheckResult(stage.id, f"check {number}", scored=is_scored, gate=gate,
                                                   outcome=outcome)
        session.order.append(str(number))
    return session.scored_results()


def new_session() -> GradingSession:
    return GradingSession(load_stages()[:1], STAGES_FILE.parent, STAGES_FILE.parent)


def test_a_check_that_did_not_run_earns_nothing():
    results = scored(new_session(), ("passed", True, False), ("not run", True, False), ("pending", True, False))
    assert [result.score for result in results] == pytest.approx([20 / 3, 0.0, 0.0])
    assert results[2].outcome == "not run"  # interrupted before its teardown: it did not finish


def test_checks_the_starter_passes_carry_no_points_but_breaking_them_costs():
    results = scored(new_session(), ("passed", True, False), ("passed", False, False), ("failed", False, False))
    assert results[1].max_score == 0 and results[0].max_score == 20
    assert results[0].score == 10.0  # half the working behaviour broken: half the points kept


def test_a_failed_gate_takes_the_stage():
    results = scored(new_session(), ("passed", True, False), ("failed", False, True))
    assert results[0].score == 0


def test_a_stage_that_never_ran_still_counts_its_points():
    results = new_session().scored_results()
    assert len(results) == 1 and results[0].max_score == 20 and results[0].outcome == "not run"


# Stages whose guard is not an API-key guard, and the table they use instead.
OWN_TABLE = {"06-bearer-tokens": "bearer tokens: grader/tokens.py's bad-token table",
             "07-attack-lab": "the attack lab: published keys on both transports, its own table (test_07_attack_lab)"}


def test_every_stage_that_grades_a_guard_sends_every_row_of_the_attack_table():
    for stage in load_stages():
        if not stage.student_server or stage.id in OWN_TABLE:
            continue
        module = importlib.import_module(f"grader.checks.{stage.checks_file.stem}")
        test = getattr(module, "test_credential", None)
        assert test is not None, f"{stage.id} grades a guard but has no test_credential"
        rows = [param.values[0].name for mark in test.pytestmark if mark.name == "parametrize"
                for param in mark.args[1]]
        assert rows == attacks.ROW_NAMES, f"{stage.id} skips rows: {set(attacks.ROW_NAMES) - set(rows)}"


def test_the_table_refuses_every_row_but_the_right_key():
    key = "Abc-123_xyz"
    lets_in = [row.name for row in attacks.KEY_ROWS if row.let_in]
    assert lets_in == ["the key", "the key, header name in lower case"]
    for row in attacks.KEY_ROWS:
        presented = [value for name, value in row.headers(key) if name.lower() == "x-api-key"]
        if not row.let_in:
            assert presented != [key] and presented != [key.encode()], row.name


CORRECT = {
    "a comprehension that compares header names": """
        import hmac
        class Guard:
            def check(self, scope):
                presented = [value for key, value in scope["headers"] if key == self._header_name]
                return len(presented) == 1 and hmac.compare_digest(presented[0], self._key)
    """,
    "a length check beside compare_digest": """
        import hmac
        def valid(presented: bytes, api_key: bytes) -> bool:
            if len(presented) != len(api_key):
                return False
            return hmac.compare_digest(presented, api_key)
    """,
    "compare_digest under another name": """
        from secrets import compare_digest as same_bytes
        def valid(presented, api_key):
            return same_bytes(presented, api_key)
    """,
    "a presence test against a literal": """
        import hmac
        def valid(key, expected):
            if key is None or key == "":
                return False
            return hmac.compare_digest(key.encode(), expected.encode())
    """,
}

LEAKY = {
    "== on the presented value": "def valid(request):\n    supplied = request.headers.get('x-api-key')\n    return supplied == EXPECTED\n",
    "startswith": "def valid(request):\n    value = request.headers.get('x-api-key')\n    return value.startswith(API_KEY)\n",
    "operator.eq": "import operator\ndef valid(request):\n    value = request.headers.get('x-api-key')\n    return operator.eq(value, API_KEY)\n",
    "in a set of keys": "def valid(request):\n    return request.headers.get('x-api-key') in VALID_KEYS\n",
    "!= on the key": "def valid(presented):\n    return presented != API_KEY\n",
}


@pytest.mark.parametrize("name", CORRECT)
def test_the_constant_time_check_accepts_a_correct_form(name):
    uses, leaks = key_comparisons(textwrap.dedent(CORRECT[name]))
    assert uses and leaks == [], leaks


@pytest.mark.parametrize("name", LEAKY)
def test_the_constant_time_check_flags_a_leaky_comparison(name):
    _, leaks = key_comparisons(LEAKY[name])
    assert leaks, f"{name} was not flagged"


class _NotListening:
    """A server that stopped listening: what a request meets when a process dies or a port closes."""

    hung = None

    def __init__(self, label: str) -> None:
        import socket
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        self.label, self.base_url = label, f"http://127.0.0.1:{port}"

    def log(self) -> str:
        return "(the server's log)"


def test_a_reference_that_gives_no_answer_blocks_the_check_and_never_fails_the_student():
    from grader.probes import Probe, send
    with pytest.raises(pytest.skip.Exception, match="the reference server gave no answer"):
        send(_NotListening("reference-proxied"), Probe("POST", "/mcp"))


def test_a_student_server_that_gives_no_answer_fails_the_check_saying_what_was_sent():
    from grader.probes import Probe, send
    from grader.verdict import CheckFailed
    with pytest.raises(CheckFailed) as failed:
        send(_NotListening("student-proxied"), Probe("POST", "/mcp"))
    assert "POST /mcp" in str(failed.value) and "the connection failed" in str(failed.value), str(failed.value)
