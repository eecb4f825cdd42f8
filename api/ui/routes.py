"""Dashboard pages, the login that turns a token or a password into a session cookie, and the
static files (our own, and the third-party ones npm installed).

The pages are shells: their scripts read and change everything through the same REST endpoints
integrators use, with the session cookie (see :func:`api.auth.presented_token`), so roles,
validation and the audit log apply to a click exactly as they do to an API call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from api.auth import SESSION_COOKIE, Caller, check_token, same_origin
from api.errors import ApiError
from api.gate import GuardedRoute
from api.ui import strings
from api.ui.strings import html, t
from api.vendor.web.auth import (
    ADMIN_TOKEN_TTL,
    KIOSK_TOKEN_TTL,
    AdminLogin,
    KioskLogin,
    admin_login,
    kiosk_login,
)
from csms.services.errors import NotFound

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE.parents[1] / "node_modules"  # where `npm ci` (make install) puts them
# The third-party files the pages load, by the name they are served under at /ui/vendor/.
VENDOR = {"uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js",
          "uPlot.min.css": "uplot/dist/uPlot.min.css",
          # /docs and /redoc (api.docs_pages), served from here rather than a CDN
          "swagger-ui-bundle.js": "swagger-ui-dist/swagger-ui-bundle.js",
          "swagger-ui.css": "swagger-ui-dist/swagger-ui.css",
          "swagger-favicon.png": "swagger-ui-dist/favicon-32x32.png",
          "redoc.standalone.js": "redoc/bundles/redoc.standalone.js"}
TOKEN_SESSION = timedelta(hours=8)  # a pasted API token: one working day, like a password login

router = APIRouter(include_in_schema=False, route_class=GuardedRoute)
templates = Jinja2Templates(directory=HERE / "templates")
templates.env.globals.update(t=html, lang=strings.LANG)  # the catalogue's words (api/ui/strings/)


@dataclass(frozen=True, slots=True)
class Page:
    """A navigation entry: who sees it is the REST API's business; this only hides dead links."""

    key: str
    path: str
    title: str
    roles: frozenset[str]


_STAFF = frozenset({"admin", "operator", "integrator", "viewer"})
PAGES = (Page("network", "/", t("nav.network"), _STAFF),
         Page("transactions", "/ui/transactions", t("nav.transactions"), _STAFF),
         Page("load", "/ui/load", t("nav.load"), _STAFF),
         Page("alerts", "/ui/alerts", t("nav.alerts"), _STAFF),
         Page("simulator", "/ui/simulator", t("nav.simulator"), _STAFF),
         Page("lockers", "/ui/lockers", t("nav.lockers"), _STAFF | {"kiosk"}),
         Page("admin", "/ui/admin", t("nav.admin"), frozenset({"admin"})))


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/ui/static", StaticFiles(directory=HERE / "static"), name="ui-static")


def vendor_installed() -> bool:
    return all((NODE_MODULES / path).is_file() for path in VENDOR.values())


async def session(request: Request) -> Caller | None:
    """The cookie's caller; a cookie matching no token counts as a token guess (api.auth). A
    device key is no session (it only sends its device's heartbeats): the login page again."""
    token = request.cookies.get(SESSION_COOKIE)
    caller = await check_token(request, token) if token else None
    return None if caller is None or caller.role == "device" else caller


def _render(request: Request, template: str, status: int = 200, **context: Any) -> Response:
    return templates.TemplateResponse(request, template, {"vendor_ok": vendor_installed(), **context},
                                      status_code=status)


def _login_page(request: Request, error: str | None = None, status: int = 200,
                kind: str = "token") -> Response:
    return _render(request, "login.html", status, error=error, kind=kind,
                   next=_safe_next(request.query_params.get("next")))


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no ``//host``), so the login cannot be used as an open redirect."""
    return target if target and target.startswith("/") and not target.startswith("//") else "/"


async def _page(request: Request, key: str, view: str | None = None,
                found: Callable[[], Awaitable[bool]] | None = None, **context: Any) -> Response:
    """Page ``view`` (default: the nav entry ``key``'s own) for a logged-in caller whose role may
    see it; otherwise the login page (at ``/``, else a redirect to it), or the first page the
    role may see. A page of one thing asks ``found`` only then (a stranger learns from the login
    nothing of which ids exist): a 404 page when it names nothing."""
    try:
        caller = await session(request)
    except ApiError as exc:  # 429: too many unknown tokens from this address
        login = _login_page(request, exc.message, exc.status)
        login.headers.update(exc.headers or {})
        return login
    if caller is None:
        if request.url.path == "/":
            return _login_page(request)
        return RedirectResponse(f"/?next={quote(request.url.path)}", status_code=303)
    visible = [p for p in PAGES if caller.role in p.roles]
    page = next(p for p in PAGES if p.key == key)
    if page not in visible:
        return RedirectResponse(visible[0].path, status_code=303)
    view = view or key
    if found is not None and not await found():
        return _render(request, "not_found.html", 404, caller=caller, pages=visible, page=page,
                       view="not_found", **context)
    return _render(request, f"{view}.html", caller=caller, pages=visible, page=page, view=view,
                   **context)


def _nav_route(page: Page) -> None:
    async def endpoint(request: Request) -> Response:
        return await _page(request, page.key)

    router.add_api_route(page.path, endpoint, methods=["GET"], name=f"ui_{page.key}")


for _nav in PAGES:  # "/" is the login page until there is a session
    _nav_route(_nav)


@router.get("/ui/charge-points/{charge_point_id}")
async def charge_point(request: Request, charge_point_id: str) -> Response:
    async def found() -> bool:
        try:
            await request.app.state.central.reads.charge_points.get(charge_point_id)
        except NotFound:
            return False
        return True

    return await _page(request, "network", "charge_point", found, charge_point_id=charge_point_id)


async def _form(request: Request) -> dict[str, str]:
    """An urlencoded form body (the login page's), without a multipart dependency."""
    fields = parse_qs((await request.body()).decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


async def _authenticate(request: Request, form: dict[str, str]) -> tuple[str, timedelta]:
    """The token to keep in the cookie and for how long; ApiError when the login fails."""
    kind = form.get("kind")
    if kind == "token":
        token = form.get("token", "").strip()
        caller = await check_token(request, token) if token else None
        if caller is None:
            raise ApiError(401, "InvalidCredentials", "unknown, expired or revoked token")
        if caller.role == "device":
            raise ApiError(403, "Forbidden", "a device key only sends its device's heartbeats: "
                           "log in with an API token or a password")
        return token, TOKEN_SESSION
    try:
        if kind == "admin":
            answer = await admin_login(AdminLogin(username=form.get("username", ""),
                                                  password=form.get("password", "")), request)
            ttl = ADMIN_TOKEN_TTL
        elif kind == "kiosk":
            answer = await kiosk_login(KioskLogin(deviceCode=form.get("deviceCode", ""),
                                                  password=form.get("password", "")), request)
            ttl = KIOSK_TOKEN_TTL
        else:
            raise ApiError(400, "ValidationError", "choose a token, admin or kiosk login")
    except ValidationError:
        raise ApiError(400, "ValidationError", "fill in both fields") from None
    return answer["token"], ttl


@router.post("/ui/login")
async def login(request: Request) -> Response:
    if not same_origin(request):
        raise ApiError(403, "CsrfCheckFailed", "log in from this site's own login page")
    form = await _form(request)
    try:
        token, ttl = await _authenticate(request, form)
    except ApiError as exc:
        page = _login_page(request, exc.message, exc.status, form.get("kind", "token"))
        page.headers.update(exc.headers or {})  # Retry-After of a 429
        return page
    response = RedirectResponse(_safe_next(form.get("next")), status_code=303)
    response.set_cookie(SESSION_COOKIE, token, max_age=int(ttl.total_seconds()), path="/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.post("/ui/logout")
async def logout(request: Request) -> Response:
    """Forget the cookie; a token a password login issued is revoked too (a pasted API token is
    the caller's own and stays valid)."""
    if not same_origin(request):
        raise ApiError(403, "CsrfCheckFailed", "log out from this site's own pages")
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await request.app.state.central.tokens.end_session(token)
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/ui/strings.js")
async def strings_script() -> Response:
    """The words of the pages' scripts, from the same catalogue as the templates' (one place)."""
    return Response(strings.script(), media_type="text/javascript",
                    headers={"Cache-Control": "no-cache"})


@router.get("/ui/vendor/{name}")
async def vendor(name: str) -> Response:
    """A third-party file from node_modules (npm ci), never from the repository."""
    if name not in VENDOR:
        raise ApiError(404, "NotFound", f"no vendor file {name!r}")
    path = NODE_MODULES / VENDOR[name]
    if not path.is_file():
        raise ApiError(404, "UiAssetsMissing", "the dashboard's JavaScript libraries are not "
                       "installed: run `make install` (it runs `npm ci`)")
    return FileResponse(path)
