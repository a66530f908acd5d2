"""Published path of helper modules."""
