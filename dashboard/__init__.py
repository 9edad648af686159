"""The live class dashboard (issue 26): who is stuck, on what, as verdicts arrive.

An instructor product, never imported by workshop/ or the exercises. Students opt in: after each
grading their loop (course/loop/class_feed.py) posts a verdict summary, signed with the key the
instructor issued them; the instructor's page shows the room and updates over server-sent events.

    python -m dashboard serve                  the app (`make dashboard`)
    python -m dashboard keys issue|list|revoke a key per student (`make dashboard-keys ARGS=...`)

    keys.py     student and instructor keys: hashed at rest, revocable, compared in constant time
    guard.py    Host and Origin checks, credentials, the rate limit, refusals with a challenge
    audit.py    the audit log (JSON lines, never a key)
    roster.py   the room: each student's latest verdicts, the class's pass rates
    live.py     server-sent events to every open page
    page.py     the HTML, escaped server-side; static/ holds its script and style (no inline script)
    export.py   the class grader's gradebook CSV and report from live data
    app.py      the FastAPI app that ties them together
    cli.py      the command line

lessons/dashboard/README.md says which stage each protection comes from.
"""
