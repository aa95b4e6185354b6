"""Bounds on what a client may send: the one definition behind the API's schemas and the tables' checks.

oas.yaml publishes them and the first migration created the columns from them, so changing one is a new
contract and a new migration, never a setting (docs/limits.md).
"""

ITEMS_PER_ORDER_MIN = 1
ITEMS_PER_ORDER_MAX = 100
PRODUCT_MIN_LENGTH = 1
PRODUCT_MAX_LENGTH = 200
QUANTITY_MIN = 1
QUANTITY_MAX = 1_000_000
# The owner is the bearer token's subject, stored as it came.
OWNER_MIN_LENGTH = 1
OWNER_MAX_LENGTH = 255
PAGE_SIZE_MIN = 1
PAGE_SIZE_MAX = 100
PAGE_SIZE_DEFAULT = 50
CURSOR_MAX_LENGTH = 200
# Idempotency-Key values: printable ASCII, without the quotes of the header's string form.
IDEMPOTENCY_KEY_MIN_LENGTH = 1
IDEMPOTENCY_KEY_MAX_LENGTH = 255
