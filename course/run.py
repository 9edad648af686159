"""Run a stage's server or its agent by hand, on the port the lesson uses.

    python -m course.run serve 01 [--workdir exercises|solutions]
    python -m course.run agent 01 [--workdir exercises|solutions]
    python -m course.run keys 05 [--workdir ...] -- issue --client alice --tools get_forecast
    python -m course.run target 07                 # the attack lab's vulnerable server, as handed out
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from grader.harness import uvicorn_command
from grader.stages import ROOT, stage_by_id

# Secrets a stage's server reads besides API_KEY (the grader prepares its own: grader/stage_env.py).
ALSO_READS = {"05-key-management": ["KEY_PEPPER"]}
LAB = "07-attack-lab"
TARGET = ROOT / "workshop" / "attack_lab" / "target"


def lab_upstream() -> dict[str, str]:
    """Stage 07's server calls a weather service with a credential of its own: start one, in this process."""
    import secrets

    from workshop.attack_lab import weather_service

    token = f"FLAG{{{secrets.token_hex(12)}}}"  # a flag too: exploit 3 captures it
    return {"UPSTREAM_URL": weather_service.start(token).url, "UPSTREAM_TOKEN": token}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["serve", "agent", "keys", "target"])
    parser.add_argument("stage", help="stage id or number, e.g. 01")
    parser.add_argument("--workdir", default="exercises", help="exercises (default) or solutions")
    argv = list(sys.argv[1:] if argv is None else argv)
    passed = argv[argv.index("--") + 1:] if "--" in argv else []  # for keys: what `python -m keys` gets
    options = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    stage = stage_by_id(options.stage)
    folder = (ROOT / options.workdir / stage.id) if not Path(options.workdir).is_absolute() \
        else Path(options.workdir) / stage.id
    if options.what == "target":
        if stage.id != LAB:
            parser.error(f"only stage {LAB} has a target")
        folder = TARGET
    # Nothing here invents a key: the server reads API_KEY from your environment (or a .env
    # file in the folder you start it from) and refuses to start without one.
    env = dict(os.environ)
    dotenv = next((place / ".env" for place in [folder, *folder.parents] if (place / ".env").is_file()), None)
    from_file = dotenv is not None
    if dotenv is not None and dotenv.stat().st_mode & 0o077:  # it holds secrets: a key, a pepper
        print(f"{dotenv} can be read by other users of this machine; it holds secrets. Make it yours alone:\n"
              f"  chmod 600 {dotenv}", file=sys.stderr)
    reads_api_key = stage.key_from_env or stage.id == LAB  # the lab's key comes through its prepare function
    if reads_api_key and not env.get("API_KEY") and not from_file:
        print("API_KEY is not set. Choose a key once and use it in both terminals:\n"
              "  export API_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')", file=sys.stderr)
    for name in ALSO_READS.get(stage.id, ()):
        if not env.get(name) and not from_file:
            print(f"{name} is not set. Choose one once; the server and `make keys` need the same:\n"
                  f"  export {name}=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')", file=sys.stderr)
    if options.what == "keys":
        command = [sys.executable, "-m", "keys", *passed]
    elif options.what in ("serve", "target"):
        if stage.id == LAB:
            env.update(lab_upstream())
        # A reverse proxy in front (FORWARDED_ALLOW_IPS names it) is the only source of X-Forwarded-For believed.
        proxies = env.get("FORWARDED_ALLOW_IPS", "").strip() or None
        command = uvicorn_command(stage.app, stage.port, trusted_proxies=proxies)
        shown = folder.relative_to(ROOT) if folder.is_relative_to(ROOT) else folder
        if options.what == "target":
            print("The vulnerable lab server, exactly as the starter hands it out: attack it with your exploits.")
        print(f"Serving {shown} at http://127.0.0.1:{stage.port}{stage.endpoint} (Ctrl+C stops)"
              + (f"; X-Forwarded-For believed from {proxies} only" if proxies else ""))
    else:
        command = [sys.executable, stage.client]
        if reads_api_key and not env.get("API_KEY"):
            # The server reads a .env file in its folder or above (python-dotenv); the client
            # does not, so hand it the same key, as an exported one would be. Never printed.
            from dotenv import dotenv_values

            key = dotenv_values(dotenv).get("API_KEY") if dotenv else None
            if key:
                env["API_KEY"] = key
    try:
        return subprocess.call(command, cwd=folder, env=env)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
