"""Published path: the batch types, served from the installed plugins (see dpdispatcher._published)."""
