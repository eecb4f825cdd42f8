"""``/docs`` (Swagger UI) and ``/redoc`` from files this server serves itself.

Why: FastAPI's own pages load Swagger UI and ReDoc (and ReDoc's Google fonts) from a CDN, so on
a site without internet — where a charging site's server often is — both were blank (issue #20).
Their files come from npm (``swagger-ui-dist``, ``redoc``: package.json, installed by
``make install``) and are served at ``/ui/vendor/`` like the dashboard's (api.ui.routes.VENDOR).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from api.gate import GuardedRoute

router = APIRouter(include_in_schema=False, route_class=GuardedRoute)  # public, as every route guarded


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url, title=f"{request.app.title} — API",
        swagger_js_url="/ui/vendor/swagger-ui-bundle.js", swagger_css_url="/ui/vendor/swagger-ui.css",
        swagger_favicon_url="/ui/vendor/swagger-favicon.png")


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    page = get_redoc_html(openapi_url=request.app.openapi_url, title=f"{request.app.title} — API",
                          redoc_js_url="/ui/vendor/redoc.standalone.js", with_google_fonts=False,
                          redoc_favicon_url="/ui/vendor/swagger-favicon.png")
    # ReDoc's "powered by" footer loads its logo from cdn.redoc.ly: images from here only (and
    # data: URLs, which ReDoc draws its icons with), so the page asks nothing of the internet
    page.headers["Content-Security-Policy"] = "img-src 'self' data:"
    return page
