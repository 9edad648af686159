"""Run a stage's server or its agent by hand, on the port the lesson uses.

    python -m workshop.run serve 01 [--workdir exercises|solutions]
    python -m workshop.run agent 01 [--workdir exercises|solutions]
    python -m workshop.run keys 05 [--workdir ...] -- issue --client alice --tools get_forecast
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from grader.stages import ROOT, stage_by_id

# What a stage's server needs besides a key, for a local run only (the grader prepares its own,
# see grader/stage_env.py). A .env file in the stage folder, or the real environment, wins.
LOCAL_DEMO_ENV = {"05-key-management": {"KEY_PEPPER": "workshop-demo-pepper-for-local-runs-only"}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workshop.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["serve", "agent", "keys"])
    parser.add_argument("stage", help="stage id or number, e.g. 01")
    parser.add_argument("--workdir", default="exercises", help="exercises (default) or solutions")
    argv = list(sys.argv[1:] if argv is None else argv)
    passed = argv[argv.index("--") + 1:] if "--" in argv else []  # for keys: what `python -m keys` gets
    options = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    stage = stage_by_id(options.stage)
    folder = (ROOT / options.workdir / stage.id) if not Path(options.workdir).is_absolute() \
        else Path(options.workdir) / stage.id
    env = dict(os.environ)
    if stage.key_from_env and not env.get("API_KEY"):
        # This stage reads its key from the environment; a demo key for a local run only.
        env["API_KEY"] = "workshop-demo-key"
        print("API_KEY is not set: using 'workshop-demo-key' for this local run.", file=sys.stderr)
    demo = {name: value for name, value in LOCAL_DEMO_ENV.get(stage.id, {}).items() if name not in env}
    if demo and not (folder / ".env").exists():
        env.update(demo)
        print(f"{', '.join(demo)} not set: using a demo value for this local run.", file=sys.stderr)
    if options.what == "keys":
        command = [sys.executable, "-m", "keys", *passed]
    elif options.what == "serve":
        command = [sys.executable, "-m", "uvicorn", stage.app, "--host", "127.0.0.1", "--port", str(stage.port)]
        print(f"Serving {folder.relative_to(ROOT)} at http://127.0.0.1:{stage.port}{stage.endpoint} (Ctrl+C stops)")
    else:
        command = [sys.executable, stage.client]
    try:
        return subprocess.call(command, cwd=folder, env=env)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
