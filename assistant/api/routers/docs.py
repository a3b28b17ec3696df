"""GET /docs: Swagger UI for the OpenAPI schema, served entirely from this machine.

The Swagger UI files come from the `fastapi-offline` package (its `static/` folder, mounted at
`ASSETS_PATH`) and start from `web/static/swagger-init.js`, so the page needs no CDN, no inline
script or style, and its policy allows only this server (`validatorUrl` is off: Swagger UI would
otherwise ask a public validator about the schema)."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from markupsafe import escape

router = APIRouter()

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
DOCS_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; worker-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def assets() -> StaticFiles:
    """Swagger UI's script and stylesheet, from the installed package."""
    return StaticFiles(directory=ASSETS_DIR)


@router.get("/docs", include_in_schema=False)
def docs(request: Request) -> HTMLResponse:
    """Swagger UI: the bundle and its stylesheet from ASSETS_PATH, started by /static/swagger-init.js."""
    app = request.app
    title = escape(f"{app.title} — API")
    page = f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>{title}</title>
  <link rel="icon" href="data:,">
  <link rel="stylesheet" href="{ASSETS_PATH}/swagger-ui.css">
</head>
<body>
  <main id="swagger-ui" data-openapi="{escape(app.openapi_url or '/openapi.json')}"><h1>{title}</h1></main>
  <script src="{ASSETS_PATH}/swagger-ui-bundle.js"></script>
  <script src="/static/swagger-init.js"></script>
</body>
</html>
"""
    return HTMLResponse(page, headers={"content-security-policy": DOCS_POLICY})
