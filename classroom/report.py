"""What an instructor reads after grading a class: a gradebook, a chart, a report.

    gradebook.csv   one row per student: each stage's points, the total, the time (an lms_id column on request)
    feedback/       one text file per student to hand back: its points per stage, failed checks, what came back
    summary.png     the score distribution and the checks failed most often
    report.html     the same chart inline, a table sortable by any column, the pass rate of
                    every stage and check across the class, and each student's failed checks
                    with what came back; one file, no server
"""

from __future__ import annotations

import base64
import csv
import html
import io
import re
import textwrap
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from grader.report import stage_of
from grader.stage_summary import by_stage, outcome

from classroom.graded import Graded

if TYPE_CHECKING:
    from grader.stages import Stage


def write_all(graded: list[Graded], stages: list[Stage], out: Path, isolation: str = "",
              lms_ids: dict[str, str] | None = None) -> None:
    write_gradebook(graded, stages, out / "gradebook.csv", lms_ids)
    write_feedback(graded, stages, out / "feedback")
    png = summary_png(graded)
    (out / "summary.png").write_bytes(png)
    (out / "report.html").write_text(report_html(graded, stages, png, isolation), encoding="utf-8")


def write_gradebook(graded: list[Graded], stages: list[Stage], path: Path,
                    lms_ids: dict[str, str] | None = None) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        lms = ["lms_id"] if lms_ids else []
        writer.writerow(["student", *lms, *[stage.id for stage in stages], "total", "max", "seconds", "note"])
        for result in graded:
            ids = [lms_ids.get(result.student, "")] if lms_ids else []
            writer.writerow([result.student, *ids, *[f"{result.stages.get(stage.id, 0):g}" for stage in stages],
                             f"{result.score:g}", f"{result.max_score:g}", f"{result.seconds:.1f}", result.note])


def feedback_text(result: Graded, stages: list[Stage]) -> str:
    """What a student gets back: its own points and failed checks, nothing of anyone else's, no key
    (the grader redacts every key it sends from what it records)."""
    lines = [f"{result.student}: {result.score:g}/{result.max_score:g}"]
    if result.note:
        lines += ["", f"Note: {result.note}"]
    for summary in by_stage(result.report, stages):
        lines += ["", f"== {summary.stage.id}: {float(summary.score):g}/{summary.stage.points:g}", summary.feedback()]
    return "\n".join(lines) + "\n"


def write_feedback(graded: list[Graded], stages: list[Stage], folder: Path) -> None:
    folder.mkdir(exist_ok=True)
    for result in graded:
        (folder / f"{result.student}.txt").write_text(feedback_text(result, stages), encoding="utf-8")


def pass_rates(graded: list[Graded], stages: list[Stage]) -> tuple[list[tuple[str, float, float]],
                                                                  list[tuple[str, float, int]]]:
    """Across the class: per stage (id, share of students with every point, mean points), and per check
    (name, share of the students graded on it who pass it, how many were), lowest pass rate first."""
    per_stage = []
    for stage in stages:
        got = [result.stages.get(stage.id, 0) for result in graded]
        full = sum(points >= stage.points - 1e-6 for points in got)
        per_stage.append((stage.id, full / len(got) if got else 0.0, sum(got) / len(got) if got else 0.0))
    passes: Counter = Counter()
    seen: Counter = Counter()
    for result in graded:
        for test in result.report.get("tests", []):
            name = test.get("name", "")
            if stage_of(test) in {stage.id for stage in stages}:
                seen[name] += 1
                passes[name] += test.get("status") == "passed"
    per_check = sorted(((name, passes[name] / count, count) for name, count in seen.items()),
                       key=lambda row: (row[1], row[0]))
    return per_stage, per_check


def failed_themselves(result: Graded) -> list[dict]:
    return [test for test in result.failed() if outcome(test) == "failed"]


def most_failed(graded: list[Graded], top: int = 8) -> list[tuple[str, int]]:
    """The checks the most students failed themselves (not merely blocked), each student counted once."""
    counts = Counter(name for result in graded for name in {test["name"] for test in failed_themselves(result)})
    return counts.most_common(top)


def summary_png(graded: list[Graded]) -> bytes:
    # A Figure on the Agg canvas directly: no pyplot, no display, safe beside other threads.
    figure = Figure(figsize=(11, 5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    scores, failures = figure.subplots(1, 2, width_ratios=[1, 1.5])
    percents = [100 * result.score / result.max_score if result.max_score else 0 for result in graded]
    scores.hist(percents, bins=[0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100.001], color="#3b7dd8",
                edgecolor="white")
    scores.set_title(f"Scores ({len(graded)} students)")
    scores.set_xlabel("score (% of the points)")
    scores.set_ylabel("students")
    scores.set_xlim(0, 100)
    scores.yaxis.get_major_locator().set_params(integer=True)
    common = most_failed(graded)
    if common:
        # "01-middleware: GET /items/ ..." reads as "01: GET /items/ ...": room for the check itself.
        labels = [_two_lines(re.sub(r"^(\d+)-[\w-]+: ", r"\1: ", name), 52) for name, _ in common][::-1]
        failures.barh(labels, [count for _, count in common][::-1], color="#d8553b")
        failures.xaxis.get_major_locator().set_params(integer=True)
        failures.set_xlabel("students who fail it")
        failures.tick_params(axis="y", labelsize=7.5)
    else:
        failures.text(0.5, 0.5, "every check passes for everyone", ha="center", va="center")
        failures.set_axis_off()
    failures.set_title("Checks failed most often")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _two_lines(text: str, width: int) -> str:
    lines = textwrap.wrap(text, width)
    return "\n".join(lines[:2]) + ("…" if len(lines) > 2 else "")


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
img { max-width: 100%; border: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: right; }
th { background: #f2f2f2; cursor: pointer; user-select: none; }
th:first-child, td:first-child, th:last-child, td.note { text-align: left; }
tr.full td.total { background: #dff3df; } tr.zero td.total { background: #f9dcdc; }
details { margin: .4rem 0; } summary { cursor: pointer; font-weight: 600; }
pre { background: #f7f7f7; padding: .5rem; white-space: pre-wrap; max-height: 16rem; overflow: auto; }
.muted { color: #666; }
"""

# Sort by a column on click (numbers as numbers), again to reverse. No library, no server.
SCRIPT = """
document.querySelectorAll("#gradebook th").forEach((th, column) => th.addEventListener("click", () => {
  const body = th.closest("table").tBodies[0];
  const up = th.dataset.order !== "up";
  th.closest("tr").querySelectorAll("th").forEach(other => delete other.dataset.order);
  th.dataset.order = up ? "up" : "down";
  const value = row => row.cells[column].dataset.value ?? row.cells[column].textContent;
  const rows = Array.from(body.rows).sort((a, b) => {
    const [x, y] = [value(a), value(b)];
    const order = (x !== "" && y !== "" && !isNaN(x) && !isNaN(y)) ? x - y : x.localeCompare(y);
    return up ? order : -order;
  });
  rows.forEach(row => body.appendChild(row));
}));
"""


def report_html(graded: list[Graded], stages: list[Stage], png: bytes, isolation: str = "") -> str:
    escape = html.escape
    head = "".join(f"<th>{escape(name)}</th>" for name in
                   ["student", *[stage.id for stage in stages], "total", "max", "seconds", "note"])
    rows = []
    for result in graded:
        kind = "full" if result.max_score and result.score >= result.max_score else (
            "zero" if result.score == 0 else "")
        cells = [f'<td><a href="#{escape(result.student)}">{escape(result.student)}</a></td>']
        cells += [f"<td>{result.stages.get(stage.id, 0):g}</td>" for stage in stages]
        cells += [f'<td class="total">{result.score:g}</td>', f"<td>{result.max_score:g}</td>",
                  f"<td>{result.seconds:.1f}</td>", f'<td class="note">{escape(result.note)}</td>']
        rows.append(f'<tr class="{kind}">' + "".join(cells) + "</tr>")
    details = []
    for result in graded:
        own = failed_themselves(result)
        items = "".join(f"<details><summary>✘ {escape(test['name'])}</summary>"
                        f"<pre>{escape(test.get('output') or '(no output)')}</pre></details>" for test in own)
        knock_on = [test for test in result.failed() if test not in own]
        if knock_on:  # one line for what the failures above kept from running, not a wall of them
            items += (f'<details class="muted"><summary>and {len(knock_on)} more not passed: blocked by the '
                      "failures above, or not run</summary><ul>"
                      + "".join(f"<li>{escape(test['name'])}</li>" for test in knock_on) + "</ul></details>")
        details.append(f'<section id="{escape(result.student)}"><h3>{escape(result.student)}: '
                       f"{result.score:g}/{result.max_score:g}</h3>"
                       + (items or '<p class="muted">every check passes</p>') + "</section>")
    per_stage, per_check = pass_rates(graded, stages)
    stage_rows = "".join(f"<tr><td>{escape(name)}</td><td>{100 * full:.0f}%</td><td>{mean:.2f}</td></tr>"
                         for name, full, mean in per_stage)
    check_rows = "".join(f"<tr><td>{escape(name)}</td><td data-value=\"{rate:.4f}\">{100 * rate:.0f}%</td>"
                         f"<td>{count}</td></tr>" for name, rate, count in per_check)
    chart = base64.b64encode(png).decode()
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Class report</title>
<style>{STYLE}</style></head>
<body>
<h1>Class report</h1>
<p class="muted">{len(graded)} students, stages {escape(", ".join(stage.id for stage in stages))}.
{escape(isolation).replace(chr(10), "<br>")}</p>
<img id="summary" alt="score distribution and the checks failed most often" src="data:image/png;base64,{chart}">
<h2>Gradebook</h2>
<p class="muted">Click a column to sort by it.</p>
<table id="gradebook"><thead><tr>{head}</tr></thead><tbody>
{chr(10).join(rows)}
</tbody></table>
<h2>Pass rates across the class</h2>
<table id="stages"><thead><tr><th>stage</th><th>students with every point</th><th>mean points</th></tr></thead>
<tbody>{stage_rows}</tbody></table>
<details><summary>Every check, lowest pass rate first ({len(per_check)} checks)</summary>
<table id="checks"><thead><tr><th>check</th><th>pass rate</th><th>students</th></tr></thead>
<tbody>{check_rows}</tbody></table></details>
<h2>Failed checks, student by student</h2>
{chr(10).join(details)}
<script>{SCRIPT}</script>
</body></html>
"""
