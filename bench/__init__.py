"""taskgate's benchmark: latency under load, idle cost, burst, against the polling baseline.

Run ``python -m bench`` (``--help`` for the scaled-down flags). Not part of the test run;
``tests/test_bench_smoke.py`` runs a tiny version of it.
"""
