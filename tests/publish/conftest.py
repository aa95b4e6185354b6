"""Fixtures for the publishing suite live in publish_support.py (shared with the test modules);
importing them here is what makes pytest see them."""

from tests.publish.publish_support import (  # noqa: F401
    auth_registry,
    base_image,
    engine,
    moto,
    open_registry,
    project,
    publish,
)
