"""Grading a class: each submission in a box of its own, the gradebook and report, and the platform adapters.

    python -m classroom SUBMISSIONS [--out DIR] [--jobs N] [--stage 01]   (`make grade-class`)
    python -m classroom.gradescope build                                 (`make gradescope`)
    python -m classroom.github_classroom results.json                     (the Classroom workflow)

It runs the grader (`python -m grader`) once per student, as a subprocess inside the
box (sandbox.py), and reads its results from a channel the student's code cannot write
(results_channel.py). It imports the grader's stage data and report helpers; the grader
never imports it.
"""
