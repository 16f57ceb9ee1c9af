"""``taskgate manage <command>`` (or ``manage.py <command>`` in a project)."""
