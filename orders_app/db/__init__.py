"""Persistence: engine from DB_URL, tables, repositories and the unit of work."""
