"""A plugin whose import fails, as when a dependency is missing."""

raise ImportError("dpd_broken_plugin needs the module 'no_such_scheduler_sdk', which is not installed")
