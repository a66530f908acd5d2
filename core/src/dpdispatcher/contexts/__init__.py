"""Published path: the contexts, served from the installed plugins (see dpdispatcher._published)."""
