"""Who advances `orders.version` on PostgreSQL: this release in its own writes, the database for any other.

Every change of an order advances its version (the ETag's value). This release sets it in the UPDATE
that its write already sends (repository.save). A writer that does not know the column (the previous
release while a rolling upgrade still runs it, or a hand-written statement) gets it advanced by the
triggers that revision 0002 installs; the connections of this release announce, through a
session setting, that they keep the version themselves, so the triggers skip their rows at the cost of
one WHEN test per row. SQLite is served by one release at a time and has no triggers.
"""

from __future__ import annotations

SETTING = "orders_app.keeps_version"
# asyncpg's server_settings for every connection of this release's engine.
KEEPS_ORDER_VERSION = {SETTING: "on"}
