# Every target is a thin wrapper around a Python entry point, so the same
# commands work without make (see README.md, "Without make").

PYTHON ?= python3
ifeq ($(OS),Windows_NT)
VENV_PY := .venv/Scripts/python.exe
else
VENV_PY := .venv/bin/python
endif

# Grade one stage with STAGE=01-middleware (or STAGE=01); all stages without it.
STAGE ?=
WORKDIR ?= exercises

.PHONY: target help setup setup-instructor setup-bench setup-dev grade test bench notebooks serve agent stages new-stage class tls-demo inspect grade-class gradescope bench-class keys token dashboard dashboard-keys

help:
	@echo "make grade [STAGE=01-middleware]  grade your work in exercises/"
	@echo "make serve STAGE=01               run a stage's server (WORKDIR=solutions for the reference)"
	@echo "make agent STAGE=01               run a stage's agent or client against it"
	@echo "make keys ARGS=\"issue --client me --tools '*'\"  stage 05's API keys (issue, list, rotate, revoke)"
	@echo "make test                         the project's own tests"
	@echo "make bench                        what a guard costs, how fast a verdict comes (bench-results/)"
	@echo "make notebooks                    the instructor notebooks in Jupyter Lab"
	@echo "make tls-demo                     the stage-04 server over HTTPS with a local CA (instructor demo)"
	@echo "make class SUBMISSIONS=DIR        grade a whole class (one folder per student)"
	@echo "make grade-class SUBMISSIONS=DIR [OUT=DIR] [JOBS=N] [STAGES=01,03] [LMS_IDS=ids.csv]  the same, in parallel boxes"
	@echo "make gradescope [STAGES=01] [VISIBILITY=after_due_date]  build the Gradescope autograder zip"
	@echo "make dashboard [HOST=0.0.0.0] [PORT=8765]  the live class dashboard (instructor; lessons/dashboard)"
	@echo "make dashboard-keys ARGS=\"issue alice bob\"  a dashboard key per student (also list, revoke NAME)"
	@echo "make stages                       list the stages"
	@echo "make new-stage NAME=07-x FROM=04  start a new stage from an existing one (for authors)"
	@echo "make target                       stage 07: the vulnerable lab server your exploits attack"
	@echo "make inspect STAGE=01 [CLI=1]     the MCP Inspector (web UI, or CLI) on a solution server, with the stage's key or token"
	@echo "make watch [STAGE=01]             re-grade on every save (h hint, l list, r re-run, q quit)"
	@echo "make hint STAGE=01                one more hint for the first failing check"
	@echo "make progress                     the stages you have passed, hints used"
	@echo "make reset STAGE=01 [FORCE=1]     back to the starter (your files are backed up first)"
	@echo "make reset-all [FORCE=1]          every stage back to its starter"
	@echo "make solution STAGE=01 [FORCE=1]  the reference solution, once the stage passes"
	@echo "make token [SUB=alice SCOPES=\"weather:read forecast:read\" TTL=600 AUD=URL]"
	@echo "                                  a stage-06 access token from the local issuer (.keys/), on stdout:"
	@echo "                                  export ACCESS_TOKEN=\$$(make -s token)"

# A student's .venv holds what grading needs; the instructor's, benchmark's and developer's
# extras install on top (requirements-<extra>.lock) for the targets that use them.
setup:
	@$(PYTHON) -m course.bootstrap

setup-instructor:
	@$(PYTHON) -m course.bootstrap instructor

setup-bench:
	@$(PYTHON) -m course.bootstrap bench

setup-dev:
	@$(PYTHON) -m course.bootstrap dev

grade: setup
	@$(VENV_PY) -m course.loop.welcome --workdir $(WORKDIR)
	@$(VENV_PY) -m course.loop.grade $(STAGE) --workdir $(WORKDIR)

test: setup-dev
	@$(VENV_PY) -m pytest tests

bench: setup-bench
	@$(VENV_PY) -m bench

notebooks: setup-instructor
	@$(VENV_PY) -m course.notebooks

tls-demo: setup-instructor
	@$(VENV_PY) -m course.tls_demo

serve: setup
	@$(VENV_PY) -m course.run serve $(or $(STAGE),01) --workdir $(WORKDIR)

# Stage 07: the vulnerable server exactly as the starter hands it out, with a fresh flag behind each hole.
target: setup
	@$(VENV_PY) -m course.run target 07

agent: setup
	@$(VENV_PY) -m course.run agent $(or $(STAGE),01) --workdir $(WORKDIR)

stages: setup
	@$(VENV_PY) -m grader --list

# A new stage, started as a copy of another (for authors): NAME=07-attack-lab FROM=04.
new-stage: setup
	@$(VENV_PY) -m course.new_stage $(NAME) --from $(FROM)

# A whole class, one folder per student: in parallel (JOBS, default two per core), each in
# a box (loopback-only network, read-only files but its copy, limits). `make class` is the same.
JOBS ?=
STAGES ?=
TIME_LIMIT ?=
class: grade-class

grade-class: setup-instructor
	@$(VENV_PY) -m classroom $(SUBMISSIONS) $(if $(OUT),--out $(OUT)) $(if $(JOBS),--jobs $(JOBS)) \
		$(if $(STAGES),--stage "$(STAGES)") $(if $(TIME_LIMIT),--time-limit $(TIME_LIMIT)) \
		$(if $(ACCEPT_WEAK_ISOLATION),--accept-weak-isolation) $(if $(LMS_IDS),--lms-ids $(LMS_IDS))

# The autograder zip to upload on Gradescope (STAGES=01 for an assignment of one stage).
gradescope: setup
	@$(VENV_PY) -m classroom.gradescope build $(if $(STAGES),--stage "$(STAGES)") $(if $(OUT),--out $(OUT)) \
		$(if $(VISIBILITY),--visibility $(VISIBILITY))

# The live class dashboard (lessons/dashboard): students opt in with CLASS_URL and CLASS_KEY.
# HOST=0.0.0.0 serves the LAN; the keys and the audit log live in .dashboard/ (owner-only).
dashboard: setup-instructor
	@$(VENV_PY) -m dashboard serve $(if $(HOST),--host $(HOST)) $(if $(PORT),--port $(PORT))

dashboard-keys: setup
	@$(VENV_PY) -m dashboard keys $(ARGS)

# How long a class takes to grade, beside the floor (N generated submissions).
bench-class: setup-bench
	@$(VENV_PY) -m bench.classroom $(if $(N),-n $(N))

# The MCP Inspector against a stage's server (the solution's unless WORKDIR is given), key from API_KEY.
# CLI=1: its scriptable CLI mode (list the tools, call one, try without the key) instead of the web UI.
inspect: setup
	@$(VENV_PY) -m course.inspector $(or $(STAGE),01) --workdir $(if $(filter command line,$(origin WORKDIR)),$(WORKDIR),solutions) $(if $(CLI),--cli) $(if $(PORT),--port $(PORT))

# The student's loop (course/loop/): watch, hints, progress, reset, solution.
# The progress file is .workshop/progress.json (WORKSHOP_STATE=path for another).
.PHONY: watch hint progress reset reset-all solution

watch: setup
	@$(VENV_PY) -m course.loop.watch $(STAGE) --workdir $(WORKDIR)

hint: setup
	@$(VENV_PY) -m course.loop.hint $(STAGE) --workdir $(WORKDIR)

progress: setup
	@$(VENV_PY) -m course.loop.progress

reset: setup
	@$(VENV_PY) -m course.loop.reset $(STAGE) --workdir $(WORKDIR) $(if $(filter 1 yes true,$(FORCE)),--force)

reset-all: setup
	@$(VENV_PY) -m course.loop.reset --all --workdir $(WORKDIR) $(if $(filter 1 yes true,$(FORCE)),--force)

solution: setup
	@$(VENV_PY) -m course.loop.solution $(STAGE) --workdir $(WORKDIR) $(if $(filter 1 yes true,$(FORCE)),--force)

keys: setup
	@$(VENV_PY) -m course.run keys $(or $(STAGE),05) --workdir $(WORKDIR) -- $(ARGS)

# Stage 06: an access token signed by the local issuer (.keys/, created on first use). Only the
# token goes to stdout (set-up messages go to stderr), so $(make -s token) is the token.
token:
	@$(PYTHON) -m course.bootstrap >&2
	@cd $(WORKDIR)/06-bearer-tokens && "$(CURDIR)/$(VENV_PY)" -m tokens mint $(if $(SUB),--sub "$(SUB)") \
		$(if $(SCOPES),--scope "$(SCOPES)") $(if $(TTL),--ttl $(TTL)) $(if $(AUD),--aud "$(AUD)")
