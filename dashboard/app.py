"""The dashboard's web app: students post verdicts, the instructor watches them arrive.

    POST /api/verdicts        a student's key (Authorization: Bearer dsk_...): one verdict summary
    GET  /                    the instructor's page       \\
    GET  /events              its live updates (SSE)       } the instructor's session cookie, or
    GET  /export/gradebook.csv, /export/report.html        / Authorization: Bearer dik_...
    GET  /login, POST /login  the instructor logs in with the instructor key; POST /logout
    GET  /static/...          the page's script and style (nothing secret)

A report goes through, in order: Host and Origin (guard.HostOriginGuard), the key (401 with a Bearer
challenge; failures per address limited), the rate limit of that key (429, Retry-After), the size cap
(413), the model (422), the identity (403 when the body names another student), and only then the
roster. Every refusal and every accepted report is a line in the audit log.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import ValidationError
from starlette.responses import StreamingResponse

from dashboard import live, page
from dashboard.audit import AuditLog
from dashboard.export import gradebook_csv, report_html
from dashboard.guard import (SESSION_COOKIE, SESSION_SECONDS, HostOriginGuard, Limiter, Sessions, allowed_hosts,
                             challenge)
from dashboard.keys import KeyStore, Refused
from dashboard.roster import Roster
from dashboard.summary import MAX_BODY, CheckSummary, VerdictSummary

STATIC = Path(__file__).parent / "static"
FIELDS = frozenset(VerdictSummary.model_fields) | frozenset(CheckSummary.model_fields)
INSTRUCTOR_REALM = "dashboard instructor"


class TooLarge(Exception):
    pass


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def bearer(request: Request) -> tuple[int, str | None]:
    """(how many Authorization headers, the Bearer token of the only one)."""
    values = request.headers.getlist("authorization")
    if len(values) != 1:
        return len(values), None
    scheme, _, token = values[0].partition(" ")
    return 1, token.strip() if scheme.lower() == "bearer" else None


async def read_capped(request: Request, limit: int = MAX_BODY) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit):
        raise TooLarge
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise TooLarge
    return bytes(body)


def create_app(folder: Path, *, bind: str = "127.0.0.1", hosts: list[str] = (), report_limit: str = "60/minute",
               failure_limit: str = "30/minute", secure_cookie: bool = False):
    """The ASGI app. FOLDER (.dashboard/) holds keys.json and audit.jsonl."""
    folder = Path(folder)
    keys, audit, roster = KeyStore(folder), AuditLog(folder / "audit.jsonl"), Roster()
    limiter, sessions, updates = Limiter(report_limit, failure_limit), Sessions(), live.Broadcaster()
    app = FastAPI(title="Class dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.keys, app.state.audit, app.state.roster, app.state.updates = keys, audit, roster, updates
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    def refuse(request: Request, status: int, detail: str, outcome: str, headers: dict | None = None,
               student: str | None = None, key_id: str | None = None, log: bool = True,
               counted: bool = True) -> JSONResponse:
        """The refusal, audited. COUNTED: another limit already bounds how often this one is written."""
        if not counted:
            note = limiter.audit_note(client_of(request))
            log, outcome = log and note is not None, outcome + (note or "")
        if log:
            audit.write(action=f"{request.method} {request.url.path}", client=client_of(request), student=student,
                        key_id=key_id, outcome=outcome)
        return JSONResponse({"detail": detail}, status, headers=headers)

    def throttled(request: Request, name: str, seconds: int, outcome: str, **who) -> JSONResponse:
        return refuse(request, 429, f"Too many requests. Retry after {seconds} s.", f"throttled ({outcome}); "
                      f"more unlogged for {seconds} s", {"Retry-After": str(seconds)},
                      log=limiter.first_of_burst(name, seconds), **who)

    def failed_credential(request: Request, reason: str, key_id: str | None, realm: str) -> JSONResponse:
        """401 with a challenge, or 429 once this address has failed too often (stage 05)."""
        address = client_of(request)
        retry = limiter.failure(address)
        if retry is not None:
            return throttled(request, f"address {address}", retry, f"{reason} key", key_id=key_id)
        detail = {"missing": "Missing key: send Authorization: Bearer <your key>.",
                  "malformed": "Malformed key: not a key this dashboard issued.",
                  "invalid": "Invalid key.", "revoked": "This key has been revoked."}[reason]
        return refuse(request, 401, detail, f"refused ({reason} key)", {"WWW-Authenticate": challenge(reason, realm)},
                      key_id=key_id)

    def instructor(request: Request) -> Response | None:
        """None when the instructor asks (session cookie or instructor key), else the refusal to send."""
        if sessions.valid(request.cookies.get(SESSION_COOKIE)):
            return None
        count, token = bearer(request)
        if count == 1 and token and keys.is_instructor(token):
            return None
        if count == 1 and keys.is_student_key(token):
            try:
                who = keys.student(token)
                known = {"student": who.name, "key_id": who.key_id}
            except Refused:
                known = {}
            return refuse(request, 403, "A student key reports verdicts; it reads nothing.",
                          "refused (a student key asked to read)", counted=False, **known)
        response = failed_credential(request, "invalid" if count else "missing", None, INSTRUCTOR_REALM)
        if response.status_code == 401 and "text/html" in request.headers.get("accept", ""):
            # A browser with no session: the same 401 and challenge, and a way to log in.
            return HTMLResponse(page.login("Log in to see the class."), 401, headers={
                "WWW-Authenticate": response.headers["www-authenticate"]})
        return response

    @app.post("/api/verdicts")
    async def report_verdict(request: Request):
        count, token = bearer(request)
        try:
            if count > 1:
                raise Refused("malformed")
            student = keys.student(token if count else None)
        except Refused as refused:
            return failed_credential(request, refused.reason, refused.key_id, "dashboard")
        who = {"student": student.name, "key_id": student.key_id}
        retry = limiter.report(student.key_id)
        if retry is not None:
            return throttled(request, f"key {student.key_id}", retry, "report rate", **who)
        try:
            body = await read_capped(request)
        except TooLarge:
            return refuse(request, 413, f"A verdict summary is at most {MAX_BODY} bytes.", "refused (too large)",
                          **who)
        try:
            verdict = VerdictSummary.model_validate_json(body)
        except ValidationError as error:
            # Where and why, never the input itself: nothing the student sent is echoed back.
            # A location is the model's field names and indexes; a student's own key in it (an unknown field,
            # a hint topic) is not repeated either.
            problems = [{"loc": [part if isinstance(part, int) or part in FIELDS else "(your key)"
                                 for part in problem["loc"]], "msg": problem["msg"]} for problem in error.errors()[:10]]
            audit.write(action="POST /api/verdicts", client=client_of(request), outcome="refused (invalid summary)",
                        **who)
            return JSONResponse({"detail": problems}, 422)
        if verdict.student is not None and verdict.student != student.name:
            return refuse(request, 403, "A key reports only as its own student.",
                          f"refused (reports as {verdict.student[:64]!r})", **who)
        seat = roster.record(student.name, verdict)
        updates.publish("verdict", {"now": roster.clock(), "student": seat.row(), "heat": roster.heat()})
        audit.write(action="POST /api/verdicts", client=client_of(request), outcome=f"accepted ({verdict.stage})",
                    **who)
        return JSONResponse({"accepted": True, "student": student.name, "stage": verdict.stage}, 202)

    @app.get("/")
    async def dashboard_page(request: Request):
        return instructor(request) or HTMLResponse(page.page(roster.snapshot()))

    @app.get("/events")
    async def events(request: Request):
        refusal = instructor(request)
        if refusal is not None:
            return refusal
        first = lambda: live.event("snapshot", roster.snapshot())  # noqa: E731
        session, (count, token) = request.cookies.get(SESSION_COOKIE), bearer(request)
        # What let the page in is asked again before each event: logging out ends a stream opened with that
        # session (a sniffed cookie's too), and so do its expiry and a new instructor key.
        still = lambda: sessions.valid(session) or (count == 1 and keys.is_instructor(token))  # noqa: E731
        return StreamingResponse(updates.stream(first, still), media_type="text/event-stream",
                                 headers={"X-Accel-Buffering": "no"})

    @app.get("/export/gradebook.csv")
    async def export_gradebook(request: Request):
        return instructor(request) or PlainTextResponse(gradebook_csv(roster), media_type="text/csv", headers={
            "Content-Disposition": 'attachment; filename="gradebook.csv"'})

    @app.get("/export/report.html")
    async def export_report(request: Request):
        # The class grader's report carries its own inline script and style (one file, no server): it is a
        # download, and if opened here it runs in a sandbox with no script at all.
        return instructor(request) or HTMLResponse(report_html(roster), headers={
            "Content-Disposition": 'attachment; filename="report.html"',
            "Content-Security-Policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox; "
                                       "frame-ancestors 'none'"})

    @app.get("/login")
    async def login_form():
        return HTMLResponse(page.login())

    @app.post("/login")
    async def login(request: Request):
        try:
            form = parse_qs((await read_capped(request, 4096)).decode("utf-8", "replace"))
        except TooLarge:
            return refuse(request, 413, "Too large.", "refused (login too large)", counted=False)
        presented = (form.get("key") or [""])[0].strip()
        if not keys.is_instructor(presented):
            response = failed_credential(request, "invalid" if presented else "missing", None, INSTRUCTOR_REALM)
            if response.status_code != 401:
                return response
            return HTMLResponse(page.login("That is not the instructor key."), 401,
                                headers={"WWW-Authenticate": response.headers["www-authenticate"]})
        audit.write(action="POST /login", client=client_of(request), student="(instructor)", outcome="logged in")
        response = RedirectResponse("/", 303)
        response.set_cookie(SESSION_COOKIE, sessions.open(), max_age=SESSION_SECONDS, httponly=True,
                            samesite="strict", secure=secure_cookie, path="/")
        return response

    @app.post("/logout")
    async def logout(request: Request):
        sessions.close(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", 303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @app.get("/favicon.ico")
    async def no_icon():
        return Response(status_code=204)

    @app.get("/healthz")
    async def health():
        return PlainTextResponse("ok")

    return HostOriginGuard(app, allowed_hosts(bind, list(hosts)), audit, limiter)
