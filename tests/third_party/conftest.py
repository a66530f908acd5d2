"""The fixture distributions' own files are installed into a fresh venv by the test, not collected here."""

collect_ignore_glob = ["fixture_plugin/*", "broken_plugin/*"]
