"""The API reference at /docs: Swagger UI served from Hallmark itself, never from a CDN.

FastAPI's own /docs page loads Swagger UI's script and stylesheet from a public CDN, a blank page
on a network without internet (a factory floor, a consortium's private subnet). Here the page
loads them from /docs/assets, served from the pinned npm package `swagger-ui-dist`
(package.json; installed by `scripts/install`).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from hallmark.config import PROJECT_ROOT

#: Where `npm ci` puts the pinned Swagger UI distribution.
SWAGGER_UI_DIST = PROJECT_ROOT / "node_modules" / "swagger-ui-dist"
ASSETS = "/docs/assets"


def install(app: FastAPI, *, dist: Path = SWAGGER_UI_DIST) -> None:
    """Serve /docs (and its assets) on `app`, which was built with `docs_url=None`."""
    assert app.openapi_url is not None
    openapi_url = app.openapi_url
    available = (dist / "swagger-ui-bundle.js").is_file()
    if available:
        app.mount(ASSETS, StaticFiles(directory=dist), name="swagger-ui")

    @app.get("/docs", include_in_schema=False, response_model=None)
    def docs() -> HTMLResponse:
        if not available:
            return HTMLResponse(
                _unavailable(dist), status_code=503, headers={"Cache-Control": "no-store"}
            )
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon-32x32.png",
        )


def _unavailable(dist: Path) -> str:
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Hallmark API</title></head>"
        "<body><h1>API reference unavailable</h1>"
        f"<p>Swagger UI (npm package {dist.name}) is not installed: run ./scripts/install.</p>"
        "<p>The OpenAPI document is at <a href='/openapi.json'>/openapi.json</a>.</p></body></html>"
    )
