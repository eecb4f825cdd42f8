"""The login page (templates/login.html)."""

from __future__ import annotations

from api.ui.strings.texts import Texts

EN: Texts = {
    "login.title": "Operator dashboard",
    "login.intro": "Log in with an API token, a back-office user or a kiosk device.",
    "login.tab_token": "API token",
    "login.tab_admin": "Admin user",
    "login.tab_kiosk": "Kiosk",
    "login.token": "Token",
    "login.username": "Username",
    "login.password": "Password",
    "login.device_code": "Device code",
    "login.submit": "Log in",
}
