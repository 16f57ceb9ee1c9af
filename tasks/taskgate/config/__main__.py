"""``python -m taskgate.config``: print the settings table of docs/settings.md."""

import sys

from taskgate.config.table import settings_table

sys.stdout.write(settings_table())
