"""The workshop's grader: pytest checks that probe a student's running server.

    python -m grader [STAGE ...] [--workdir DIR] [--json FILE]

Student code never runs in this process: servers, agents and even the import
check run as subprocesses, each in its own process group, always torn down.
"""
