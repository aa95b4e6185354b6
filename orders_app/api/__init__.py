"""HTTP edge: Litestar controllers, msgspec wire schemas and the one place errors become responses."""
