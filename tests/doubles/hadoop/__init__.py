"""The Hadoop TEST DOUBLE: `hadoop fs`, `hadoop jar … distributedshell` and `yarn application` (README.md)."""
