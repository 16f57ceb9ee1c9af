"""Jobs the benchmark's real workers run (``TASKGATE_JOB_MODULES=bench.jobs.ticker``)."""
