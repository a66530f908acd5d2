"""Published path; served from the installed plugins (see dpdispatcher._published)."""

from dpdispatcher._published import served

__getattr__ = served(__name__, ("JH_UniScheduler",))
