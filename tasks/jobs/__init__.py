"""The shipped jobs. Importing this package registers them."""

from tasks.jobs import demo

__all__ = ["demo"]
