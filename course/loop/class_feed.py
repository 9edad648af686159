"""Opt in to the class dashboard: after each grading, send the instructor a summary of the verdict.

    CLASS_URL=http://192.168.1.20:8765 CLASS_KEY=dsk_... make watch

or, once, in .workshop/class.toml (next to the progress file; git-ignored):

    url = "http://192.168.1.20:8765"
    key = "dsk_..."

What is sent: the stage, each check's title, outcome and points, and the hint levels used on that
stage. Never code, never a key, never what a check sent, got or printed (that can hold a key).
A report that cannot be sent costs one line on the screen and a short wait at most: the grade, the
progress file and the exit status stay what they are.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

TIMEOUT = 2.0  # seconds: a classroom LAN answers in milliseconds; a dashboard that is down must not stall the loop


def settings(folder: Path) -> tuple[str, str] | None:
    """(url, key) from CLASS_URL and CLASS_KEY, else from FOLDER/class.toml; None: not opted in."""
    url, key = os.environ.get("CLASS_URL", "").strip(), os.environ.get("CLASS_KEY", "").strip()
    if not (url and key):
        try:
            data = tomllib.loads((folder / "class.toml").read_text())
        except (OSError, tomllib.TOMLDecodeError):
            data = {}
        url, key = url or str(data.get("url", "")).strip(), key or str(data.get("key", "")).strip()
    return (url.rstrip("/"), key) if url and key else None


def summary(stage_id: str, checks, hints: dict[str, int]) -> dict:
    """The verdict as the dashboard takes it (dashboard/summary.py): names, outcomes, points, hint levels."""
    return {"stage": stage_id,
            "checks": [{"check": check.title[:200], "outcome": check.outcome, "score": check.score,
                        "max_score": check.max_score} for check in checks][:200],
            "hints": {topic[:64]: min(int(level), 3) for topic, level in hints.items()}}


def send(folder: Path, stage_id: str, checks, hints: dict[str, int], say=print) -> bool | None:
    """Post the summary if opted in. True: accepted; False: not (one line said why); None: not opted in."""
    chosen = settings(folder)
    if chosen is None:
        return None
    url, key = chosen
    import httpx

    try:
        answer = httpx.post(f"{url}/api/verdicts", json=summary(stage_id, checks, hints), timeout=TIMEOUT,
                            headers={"Authorization": f"Bearer {key}"}, follow_redirects=False)
    except httpx.HTTPError as error:
        say(f"(class dashboard: not sent, {error.__class__.__name__} reaching {url})")
        return False
    if answer.status_code != 202:
        say(f"(class dashboard: not sent, {url} answered {answer.status_code})")
        return False
    return True
