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

.PHONY: help setup grade test bench notebooks serve agent stages class

help:
	@echo "make grade [STAGE=01-middleware]  grade your work in exercises/"
	@echo "make serve STAGE=01               run a stage's server (WORKDIR=solutions for the reference)"
	@echo "make agent STAGE=01               run a stage's agent or client against it"
	@echo "make test                         the project's own tests"
	@echo "make bench                        what a guard costs, how fast a verdict comes (bench-results/)"
	@echo "make notebooks                    the instructor notebooks in Jupyter Lab"
	@echo "make class SUBMISSIONS=DIR        grade a whole class (one folder per student)"
	@echo "make stages                       list the stages"

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

serve: setup
	@$(VENV_PY) -m workshop.run serve $(or $(STAGE),01) --workdir $(WORKDIR)

agent: setup
	@$(VENV_PY) -m workshop.run agent $(or $(STAGE),01) --workdir $(WORKDIR)

stages: setup
	@$(VENV_PY) -m grader --list

class: setup
	@$(VENV_PY) -m grader.classroom $(SUBMISSIONS) $(if $(OUT),--out $(OUT))
