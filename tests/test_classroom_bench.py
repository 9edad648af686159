"""The class bench: the class it generates (kinds, counts, the same for the same N), and that a tiny run
writes its table and chart. An entry point, not a timed test: no timing is asserted."""

from collections import Counter

from bench.run import Settings, bench_class
from bench.classroom import counts, generate, plan
from grader.stages import stage_by_id

STAGE = stage_by_id("01-middleware")


def test_a_class_of_100_is_40_solutions_30_starters_20_broken_10_hanging():
    assert counts(100) == {"solution": 40, "starter": 30, "broken": 20, "hanging": 10}
    kinds = Counter(variant.kind for variant in plan(100, STAGE))
    assert kinds == Counter(solution=40, starter=30, broken=20, hanging=10), kinds


def test_every_size_adds_up_and_keeps_the_shares_roughly():
    for size in range(1, 101):
        got = counts(size)
        assert sum(got.values()) == size, (size, got)
        assert abs(got["solution"] - 0.4 * size) < 1 and abs(got["hanging"] - 0.1 * size) < 1, (size, got)


def test_a_class_of_20_holds_each_broken_and_hanging_variant_once():
    labels = Counter(variant.label for variant in plan(20, STAGE))
    assert labels == Counter({"solution": 8, "starter": 6, "broken: a syntax error": 1,
                              "broken: a server that never binds": 1, "broken: lets everyone in": 1,
                              "broken: no challenge": 1, "hanging: an import that hangs": 1,
                              "hanging: a request that blocks": 1}), labels


def test_the_same_size_gives_the_same_class():
    assert [v.label for v in plan(37, STAGE)] == [v.label for v in plan(37, STAGE)]


def test_the_class_is_laid_out_like_exercises(tmp_path):
    students = generate(tmp_path, 10, STAGE.id)
    assert sorted(path.name for path in tmp_path.iterdir()) == [f"student-{n:03}" for n in range(10)]
    for name, variant in students.items():
        folder = tmp_path / name / STAGE.id
        assert (folder / "main.py").is_file() and (folder / "auth.py").is_file(), (name, variant.label)
    hangs = [name for name, variant in students.items() if variant.label == "hanging: an import that hangs"]
    assert len(hangs) == 1 and "time.sleep(3600)" in (tmp_path / hangs[0] / STAGE.id / "auth.py").read_text()


def test_a_tiny_class_bench_writes_its_table_and_chart_and_grades_as_alone(tmp_path, capsys):
    result = bench_class(Settings(class_size=2), tmp_path)
    printed = capsys.readouterr().out
    assert result["students"] == 2 and result["mix"] == {"solution": 1, "starter": 1}, result
    assert result["differ"] == [], result["differ"]
    assert (tmp_path / "class.md").read_text().count("| solution") == 1, (tmp_path / "class.md").read_text()
    assert (tmp_path / "class.png").read_bytes()[:4] == b"\x89PNG"
    assert "a class of 100:" in printed and "projected from 2, not measured" in printed, printed
