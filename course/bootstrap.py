"""Create .venv from the pinned dependencies, once. Standard library only.

    python3 -m course.bootstrap                 (what `make setup` and `make grade` run)
    python3 -m course.bootstrap instructor      (+ notebooks, TLS demo, class reports)
    python3 -m course.bootstrap bench           (+ the load generator and charts of `make bench`)
    python3 -m course.bootstrap dev             (everything `make test` needs)

A student's .venv holds what grading and the stages need (requirements.lock)
and nothing else; each extra installs its own lock on top. Idempotent: it
records a fingerprint of each installed lock inside .venv and does nothing
while they are unchanged. Works on Windows too.

When Node.js is on PATH it also installs the MCP clients the interoperability
tests run (interop/package-lock.json, into interop/node_modules), the same way:
once, then nothing while the lock is unchanged. Without Node.js it says so and
goes on; those tests then say that Node.js is missing.

`dev` also makes sure a headless Chromium is there for the browser tests (the
class report's screenshot): on Debian as root it installs the `chromium`
package once; anywhere else it says how, and those tests skip. A test never
installs anything itself.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".workshop-installed.json"
# Each group is one lock, installed with --no-deps on top of the groups before it.
LOCKS = {
    "student": ROOT / "requirements.lock",
    "instructor": ROOT / "requirements-instructor.lock",
    "bench": ROOT / "requirements-bench.lock",
    "dev": ROOT / "requirements-dev.lock",
}
# What each make target asks for: `make test` runs the notebooks and the benchmarks' smoke tests too.
GROUPS = {
    "student": ["student"],
    "instructor": ["student", "instructor"],
    "bench": ["student", "bench"],
    "dev": ["student", "instructor", "bench", "dev"],
}
INTEROP = ROOT / "interop"
NODE_STAMP = INTEROP / "node_modules" / ".workshop-installed"
NODE_PINNED = [INTEROP / "package.json", INTEROP / "package-lock.json"]


def venv_python() -> Path:
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return VENV / scripts / ("python.exe" if sys.platform == "win32" else "python")


def fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run(*command: str | Path, cwd: Path | None = None) -> None:
    """Run COMMAND, showing its output only if it fails.

    pip repeats warnings about the machine's own index configuration (find-links or extra
    index folders that do not exist) on every install: noise the student cannot act on.
    On failure the whole output is shown, warnings included, since one of them may be why."""
    print("+", " ".join(str(part) for part in command), flush=True)
    done = subprocess.run([str(part) for part in command], cwd=cwd, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace")
    if done.returncode != 0:
        print(done.stdout, end="" if done.stdout.endswith("\n") else "\n", file=sys.stderr, flush=True)
        raise subprocess.CalledProcessError(done.returncode, done.args)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    want = args[0] if args else "student"
    if want not in GROUPS or len(args) > 1:
        print(f"usage: python -m course.bootstrap [{'|'.join(GROUPS)}]", file=sys.stderr)
        return 2
    try:
        status = setup_venv(GROUPS[want])
    except subprocess.CalledProcessError as error:
        print(f"Setting up .venv failed: `{' '.join(map(str, error.cmd))}` exited with status {error.returncode} "
              "(its output is above). Fix that and run `make setup` again.", file=sys.stderr)
        return 1
    setup_node_clients()  # `make inspect` and lessons/hosts use them too
    if want == "dev":
        setup_browser()
    return status


def browser() -> str | None:
    """The headless Chromium the browser tests drive, if there is one."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def setup_browser() -> None:
    """Debian's chromium package, installed once where we may (root, apt-get); else a note."""
    if browser():
        return
    apt_get = shutil.which("apt-get")
    geteuid = getattr(os, "geteuid", None)
    if apt_get is None or geteuid is None or geteuid() != 0:
        print("No Chromium found: the browser tests will skip (on Debian: sudo apt-get install chromium).")
        return
    print("Installing Chromium for the browser tests (apt-get install chromium) ...", flush=True)
    apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt_get, "install", "-y", "-qq", "--no-install-recommends", "chromium"]
    try:
        if subprocess.run(install, capture_output=True, timeout=900, env=apt).returncode != 0:
            # Package lists missing or stale (a fresh container): refresh them once.
            subprocess.run([apt_get, "update", "-qq"], capture_output=True, timeout=600, env=apt)
            subprocess.run(install, capture_output=True, timeout=900, env=apt)
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"Could not install Chromium ({error}): the browser tests will skip.")
        return
    print("Chromium is ready." if browser() else "Could not install Chromium: the browser tests will skip.")


def setup_node_clients() -> None:
    """npm ci in interop/, once per lock; skipped, with a message, without Node.js."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        print("Node.js/npm not found: skipping the MCP clients in interop/ "
              "(tests/test_interop.py will say Node.js is missing).")
        return
    if NODE_STAMP.exists() and NODE_STAMP.read_text() == fingerprint(NODE_PINNED):
        print("interop/node_modules is up to date.")
        return
    try:
        # Exactly the lock's versions, runtime dependencies only; from the npm cache when it can.
        run(npm, "ci", "--omit=dev", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", cwd=INTEROP)
    except (OSError, subprocess.CalledProcessError) as error:
        print(f"Could not install interop/node_modules ({error}); the interoperability tests will fail "
              "until `make setup` succeeds (it needs the npm registry once).")
        return
    NODE_STAMP.write_text(fingerprint(NODE_PINNED))
    print("interop/node_modules is ready.")


def installed() -> dict[str, str]:
    """The locks installed in .venv, by group, with the fingerprint each had."""
    try:
        return json.loads(STAMP.read_text())
    except (OSError, ValueError):
        return {}


def setup_venv(groups: list[str]) -> int:
    done = installed() if venv_python().exists() else {}
    missing = [group for group in groups if done.get(group) != fingerprint([ROOT / "pyproject.toml", LOCKS[group]])]
    if not missing:
        print(".venv is up to date.")
        return 0
    if not venv_python().exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    python = venv_python()
    for group in missing:
        run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
            "-r", LOCKS[group])
    # Make `workshop`, `course` and `grader` importable from .venv without a build step:
    # a .pth file puts the repository root on sys.path.
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    name_this_checkout(Path(site_packages))
    if "instructor" in missing:
        # The notebooks' kernel lives inside .venv, not in the user's home folder.
        run(python, "-m", "ipykernel", "install", "--prefix", VENV, "--name", "secure-mcp-workshop",
            "--display-name", "Secure MCP workshop (.venv)")
    for group in missing:
        done[group] = fingerprint([ROOT / "pyproject.toml", LOCKS[group]])
    STAMP.write_text(json.dumps(done, indent=1, sort_keys=True))
    print(".venv is ready.")
    return 0


def name_this_checkout(site_packages: Path, root: Path = ROOT, venv: Path = VENV) -> None:
    """Write the .pth that puts ROOT on sys.path, unless VENV is a link to another checkout's .venv (the
    tests' copies of the repository use one): that .venv names its own checkout, for every other user of it."""
    if venv.resolve().parent != root.resolve():
        return
    (site_packages / "secure_mcp_workshop.pth").write_text(str(root) + "\n")


if __name__ == "__main__":
    sys.exit(main())
