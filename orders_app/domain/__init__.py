"""The orders domain: plain Python, no framework and no persistence imports."""
