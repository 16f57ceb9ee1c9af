"""A minimal Django project running celery-progress 0.5 (benchmark peer; its own venv)."""
