"""The HTTP API (FastAPI): routes stay thin and call one service each."""
