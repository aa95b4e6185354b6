"""Load benchmark of the orders API against a bare Litestar ceiling (run: bench/run --help)."""
