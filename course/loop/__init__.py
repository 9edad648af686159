"""The student's loop: watch, hint, progress, reset, solution, in the spirit of rustlings.

Each module is one command, wrapped by a Makefile target:

    make watch [STAGE=01]   python -m course.loop.watch     re-grade on every save
    make hint STAGE=01      python -m course.loop.hint      the next hint level
    make progress           python -m course.loop.progress  stages passed, hints used
    make reset STAGE=01     python -m course.loop.reset     back to the starter (after a backup)
    make solution STAGE=01  python -m course.loop.solution  the reference, once the stage passes

The loop only ever *runs* the grader (`python -m grader ... --json FILE`) and reads
its report; the progress file is a diary for the student, never the grader's input.
"""
