"""A FastAPI app whose own session cookie signs people in to its hotstate server."""
