"""What gateway and worker agree on: states, Redis keys, the wire's encoding.

A leaf: it imports nothing of taskgate's and nothing of Django, Celery or Redis, so every
layer may use it."""
