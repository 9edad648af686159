"""The benchmarks (`make bench`): what a guard costs a server, how fast a verdict comes, how fast a class is graded.

    python -m bench [--quick] [--only guards|verdict|class]
    python -m bench.classroom -n 20                          (`make bench-class N=20`)

run.py holds the three benchmarks, guards.py the guarded apps they load, loadgen.py the
load (wrk, else locust), classroom.py the generated class, submissions.py the broken
submissions the benchmarks and the tests build. Nothing of the grader imports this package.
"""
