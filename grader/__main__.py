import os
import sys

from grader.cli import main
from grader.harness import kill_everything

code = main()
# Everything is written and every process stopped; skip the interpreter's slow
# teardown of the libraries pytest and the MCP SDK loaded (a few tenths of a second).
kill_everything()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
