"""Create .venv from the pinned dependencies, once. Standard library only.

    python3 -m workshop.bootstrap        (what `make setup` runs)

Idempotent: it records a fingerprint of pyproject.toml and requirements.lock
inside .venv and does nothing while they are unchanged. Works on Windows too.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
STAMP = VENV / ".workshop-installed"
PINNED = [ROOT / "pyproject.toml", ROOT / "requirements.lock"]


def venv_python() -> Path:
    scripts = "Scripts" if sys.platform == "win32" else "bin"
    return VENV / scripts / ("python.exe" if sys.platform == "win32" else "python")


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in PINNED:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def run(*command: str | Path) -> None:
    print("+", " ".join(str(part) for part in command), flush=True)
    subprocess.run([str(part) for part in command], check=True)


def main() -> int:
    if STAMP.exists() and STAMP.read_text() == fingerprint() and venv_python().exists():
        print(".venv is up to date.")
        return 0
    if not venv_python().exists():
        print(f"Creating {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    python = venv_python()
    run(python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
        "-r", ROOT / "requirements.lock")
    # Make `workshop` and `grader` importable from .venv without a build step:
    # a .pth file puts the repository root on sys.path.
    site_packages = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    Path(site_packages, "secure_mcp_workshop.pth").write_text(str(ROOT) + "\n")
    # The notebooks' kernel lives inside .venv, not in the user's home folder.
    run(python, "-m", "ipykernel", "install", "--prefix", VENV, "--name", "secure-mcp-workshop",
        "--display-name", "Secure MCP workshop (.venv)")
    STAMP.write_text(fingerprint())
    print(".venv is ready.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
