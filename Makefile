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

.PHONY: help setup grade test bench notebooks serve agent stages class tls-demo inspect token

help:
	@echo "make grade [STAGE=01-middleware]  grade your work in exercises/"
	@echo "make serve STAGE=01               run a stage's server (WORKDIR=solutions for the reference)"
	@echo "make agent STAGE=01               run a stage's agent or client against it"
	@echo "make test                         the project's own tests"
	@echo "make bench                        how long grading takes, beside server start-up"
	@echo "make notebooks                    the instructor notebooks in Jupyter Lab"
	@echo "make tls-demo                     the stage-04 server over HTTPS with a local CA (instructor demo)"
	@echo "make class SUBMISSIONS=DIR        grade a whole class (one folder per student)"
	@echo "make stages                       list the stages"
	@echo "make inspect STAGE=01 [CLI=1]     the MCP Inspector (web UI, or CLI) on a solution server, with the key"
	@echo "make token [SUB=alice SCOPES=\"weather:read forecast:read\" TTL=600 AUD=URL]"
	@echo "                                  a stage-06 access token from the local issuer (.keys/), on stdout:"
	@echo "                                  export ACCESS_TOKEN=\$$(make -s token)"

setup:
	@$(PYTHON) -m workshop.bootstrap

grade: setup
	@$(VENV_PY) -m grader $(STAGE) --workdir $(WORKDIR)

test: setup
	@$(VENV_PY) -m pytest tests

bench: setup
	@$(VENV_PY) -m grader.bench

notebooks: setup
	@$(VENV_PY) -m workshop.notebooks

tls-demo: setup
	@$(VENV_PY) -m workshop.tls_demo

serve: setup
	@$(VENV_PY) -m workshop.run serve $(or $(STAGE),01) --workdir $(WORKDIR)

agent: setup
	@$(VENV_PY) -m workshop.run agent $(or $(STAGE),01) --workdir $(WORKDIR)

stages: setup
	@$(VENV_PY) -m grader --list

class: setup
	@$(VENV_PY) -m grader.classroom $(SUBMISSIONS) $(if $(OUT),--out $(OUT))

# The MCP Inspector against a stage's server (the solution's unless WORKDIR is given), key from API_KEY.
# CLI=1: its scriptable CLI mode (list the tools, call one, try without the key) instead of the web UI.
inspect: setup
	@$(VENV_PY) -m workshop.inspector $(or $(STAGE),01) --workdir $(if $(filter command line,$(origin WORKDIR)),$(WORKDIR),solutions) $(if $(CLI),--cli) $(if $(PORT),--port $(PORT))

# Stage 06: an access token signed by the local issuer (.keys/, created on first use). Only the
# token goes to stdout (set-up messages go to stderr), so $(make -s token) is the token.
token:
	@$(PYTHON) -m workshop.bootstrap >&2
	@cd $(WORKDIR)/06-bearer-tokens && "$(CURDIR)/$(VENV_PY)" -m tokens mint $(if $(SUB),--sub "$(SUB)") \
		$(if $(SCOPES),--scope "$(SCOPES)") $(if $(TTL),--ttl $(TTL)) $(if $(AUD),--aud "$(AUD)")
