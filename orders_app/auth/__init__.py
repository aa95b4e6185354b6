"""Bearer-token authentication: key material and JWT verification (no web framework here)."""
