"""The HTTP edge: pure ASGI layers and the guarded uvicorn protocols, below the Litestar application."""
