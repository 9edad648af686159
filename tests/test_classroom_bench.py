"""The class bench is an entry point, not a timed test: here it only runs, at the smallest size."""

import re

from grader.classroom_bench import main


def test_the_class_bench_prints_the_time_beside_the_floor(capsys):
    assert main(["-n", "1", "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"1 students, 1 at a time: [\d.]+ s; floor [\d.]+ s .*x the floor", printed), printed
