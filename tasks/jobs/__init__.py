"""The shipped jobs. Importing this package registers them."""

from tasks.jobs import demo, reports

__all__ = ["demo", "reports"]
