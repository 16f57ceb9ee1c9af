"""The shipped example jobs (demo, reports, bundles). Importing this package registers them."""

from taskgate.examples import bundles, demo, reports

__all__ = ["bundles", "demo", "reports"]
