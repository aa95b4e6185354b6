"""Tooling around the service (not part of it): tools.publish publishes the image."""
