"""The shipped jobs. Importing this package registers them."""

from tasks.jobs import bundles, demo, reports

__all__ = ["bundles", "demo", "reports"]
