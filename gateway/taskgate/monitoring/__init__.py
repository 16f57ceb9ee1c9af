"""Health checks (``/healthz``, ``/readyz``) and Prometheus metrics (``/metrics``)."""
