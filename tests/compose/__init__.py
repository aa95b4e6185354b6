"""Compose stack suite (marker `compose`): compose.yaml validated by the tool and run end to end."""
