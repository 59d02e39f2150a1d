"""The hub's HTTP API (FastAPI): ``create_app(config)``; see docs/api.md."""

from tahaluf.api.app import create_app

__all__ = ["create_app"]
