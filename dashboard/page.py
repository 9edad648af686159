"""The instructor's page and the login form: HTML written here, every value escaped with html.escape.

Student-supplied text (check names, hint topics) reaches the page two ways and is text both times:
escaped here in the first render, and put in with textContent by static/dashboard.js on each update.
No inline script or style: the Content-Security-Policy (guard.py) would refuse them anyway.
"""

from __future__ import annotations

from html import escape

from grader.stages import load_stages

COLUMNS = [("student", "student"), ("stage", "stage"), ("since", "on it for"), ("checks", "checks pass"),
           ("first_failing", "first failing check"), ("hints", "hints used"), ("last", "last verdict")]


def ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02} min"


def bucket(passed: int, seen: int) -> int:
    """0..10: the heat map's colour class for a pass rate (classes, not inline styles: the CSP has none)."""
    return round(10 * passed / seen) if seen else 0


def cell(column: str, row: dict, now: float) -> str:
    if column in ("since", "last"):
        return (f'<td class="{column}" data-at="{row[column]:.3f}">{escape(ago(now - row[column]))}'
                f'{"" if column == "since" else " ago"}</td>')
    value = row[column]
    if column == "hints":
        value = f"{value} ({row['hint_topics']})" if row["hint_topics"] else str(value)
    return f'<td class="{column}">{escape(str(value))}</td>'


def student_rows(snapshot: dict) -> str:
    return "\n".join(f'<tr data-student="{escape(row["student"])}">'
                     + "".join(cell(column, row, snapshot["now"]) for column, _ in COLUMNS) + "</tr>"
                     for row in snapshot["students"])


def heat_map(snapshot: dict) -> str:
    parts = []
    for stage in snapshot["heat"]:
        cells = "".join(
            f'<li class="cell heat-{bucket(check["passed"], check["seen"])}" title="{escape(check["check"])}">'
            f'<span class="name">{escape(check["check"])}</span>'
            f'<span class="rate">{check["passed"]}/{check["seen"]}</span></li>' for check in stage["checks"])
        parts.append(f'<section class="stage" data-stage="{escape(stage["stage"])}">'
                     f'<h3 class="heat-{bucket(stage["passed"], stage["graded"])}">{escape(stage["stage"])} '
                     f'<span class="rate">{stage["passed"]}/{stage["graded"]} pass</span></h3>'
                     f'<ol class="cells">{cells}</ol></section>')
    return "\n".join(parts) or '<p class="muted">No verdict yet.</p>'


def page(snapshot: dict, title: str = "Class dashboard") -> str:
    head = "".join(f'<th data-column="{name}">{escape(label)}</th>' for name, label in COLUMNS)
    stages = ", ".join(stage.id for stage in load_stages())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="/static/dashboard.css">
<script src="/static/dashboard.js" defer></script></head>
<body data-now="{snapshot['now']:.3f}">
<header><h1>{escape(title)}</h1>
<p class="muted"><span id="count">{len(snapshot['students'])}</span> students reporting.
<span id="status">connecting...</span> Exports: <a href="/export/gradebook.csv">gradebook.csv</a>,
<a href="/export/report.html">report.html</a>.</p>
<form method="post" action="/logout"><button type="submit">Log out</button></form></header>
<h2>Students</h2>
<table id="students"><thead><tr>{head}</tr></thead><tbody>
{student_rows(snapshot)}
</tbody></table>
<h2>Pass rate per stage and per check</h2>
<p class="muted">Each student's latest verdict of each stage ({escape(stages)}); red: few pass, green: all pass.</p>
<div id="heat">{heat_map(snapshot)}</div>
</body></html>
"""


def login(message: str = "") -> str:
    note = f'<p class="error">{escape(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Class dashboard: log in</title>
<link rel="stylesheet" href="/static/dashboard.css"></head>
<body><h1>Class dashboard</h1>{note}
<form method="post" action="/login">
<label>Instructor key <input type="password" name="key" autocomplete="current-password" required size="60"></label>
<button type="submit">Log in</button></form>
<p class="muted">The key <code>python -m dashboard serve</code> printed the first time it started
(<code>python -m dashboard keys instructor --reset</code> makes a new one).</p></body></html>
"""
