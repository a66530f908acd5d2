"""The project's TEST DOUBLE of the DP cloud (Bohrium) HTTP API; see README.md."""
