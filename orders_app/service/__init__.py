"""Use cases: one function per operation, each taking a unit of work."""
