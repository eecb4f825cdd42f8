"""The dashboard's words, in one place: the templates read them with ``t(key, **params)`` (a
Jinja global) and the scripts with ``UI.t(key, params)`` from the same table, served as
``/ui/strings.js``. A translation is one more table of the same keys in :data:`CATALOGUES`.

Keys are ``page.thing``; ``{name}`` in a text is filled from the params (the same rule on both
sides, so a text reads the same wherever it is shown). A text that depends on a count is a dict
of plural forms (``one``, ``other``: the CLDR categories ``Intl.PluralRules`` names), chosen by
the param ``n``. Pages not moved here yet carry their words inline (docs/ui.md says which).
"""

from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

log = logging.getLogger(__name__)

Text = str | dict[str, str]  # a text, or its plural forms

EN: dict[str, Text] = {
    # -- shared: the top bar, the base layout, app.js ------------------------------------------
    "nav.network": "Network",
    "nav.transactions": "Transactions",
    "nav.load": "Load",
    "nav.simulator": "Simulator",
    "nav.lockers": "Lockers",
    "nav.admin": "Admin",
    "base.log_in": "Log in",
    "base.log_out": "Log out",
    "base.live": "● live",
    "base.live_title": "Live updates (green: connected)",
    "base.vendor_missing": "The dashboard's JavaScript libraries are not installed, so charts are off.",
    "base.vendor_fix": "Run {command} (or {run}), which runs {npm}.",
    "theme.dark": "Dark mode",
    "common.done": "Done",
    "common.nothing": "Nothing yet.",
    "common.never": "never",
    "common.none": "—",
    "common.yes": "yes",
    "common.no": "no",
    "common.cancel": "Cancel",
    "common.save": "Save",
    "common.edit": "Edit",
    "common.delete": "Delete",
    "common.forbidden": "Not allowed: your role ({role}) may not do this.",
    "common.failed": "{code}: {message}",
    "common.error_status": "Error {status}",
    "common.request_failed": "the request failed",
    "ago.now": "just now",
    "ago.s": "{n} s ago",
    "ago.min": "{n} min ago",
    "ago.h": "{n} h ago",
    "ago.d": "{n} d ago",
    "confirm.title": "Are you sure?",
    "confirm.ok": "Confirm",
    # -- login ----------------------------------------------------------------------------------
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
    # -- admin ----------------------------------------------------------------------------------
    "admin.title": "Admin",
    "admin.tokens": "API tokens",
    "admin.token_name": "Name",
    "admin.token_name_label": "Token name",
    "admin.role": "Role",
    "admin.create_token": "Create token",
    "admin.col_id": "Id",
    "admin.col_name": "Name",
    "admin.col_role": "Role",
    "admin.col_created": "Created",
    "admin.col_expires": "Expires",
    "admin.col_actions": "Actions",
    "admin.revoke": "Revoke",
    "admin.revoke_token": "Revoke token {name}",
    "admin.this_session": "this session",
    "admin.token_created": "Token {name} created. Copy its secret now, it is not shown again:",
    "admin.confirm_revoke": "Revoke the API token “{name}” (id {id})? Whatever uses it is refused "
                            "from now on; this cannot be undone.",
    "admin.confirm_revoke_own": "Revoke the API token “{name}” (id {id})? It is the token of this "
                                "session: you will be logged out at once.",
    "admin.tags": "Id tags",
    "admin.id_tag": "Id tag",
    "admin.status": "Status",
    "admin.add_tag": "Add id tag",
    "admin.col_tag": "Id tag",
    "admin.col_status": "Status",
    "admin.col_expiry": "Expiry",
    "admin.col_parent": "Parent",
    "admin.no_tags": "No id tags.",
    "admin.block": "Block",
    "admin.accept": "Accept",
    "admin.delete_tag": "Delete id tag {tag}",
    "admin.confirm_delete_tag": "Delete the id tag “{tag}”? The central system forgets it; this "
                                "cannot be undone.",
    "admin.users": "Users",
    "admin.username": "Username",
    "admin.full_name": "Full name",
    "admin.password": "Password",
    "admin.new_password": "New password (blank: unchanged)",
    "admin.active": "Active",
    "admin.no_role": "No role",
    "admin.add_user": "Add user",
    "admin.save_user": "Save user {username}",
    "admin.col_username": "Username",
    "admin.col_active": "Active",
    "admin.col_password": "Password",
    "admin.password_set": "set",
    "admin.password_none": "none",
    "admin.you": "you",
    "admin.no_users": "No users.",
    "admin.edit_user": "Edit user {username}",
    "admin.delete_user": "Delete user {username}",
    "admin.confirm_delete_user": "Delete the user “{username}” ({name})? Their bays and rentals "
                                 "are kept without a user; their grants and group memberships "
                                 "go. This cannot be undone.",
    "admin.confirm_edit_self": "This changes your own login (username, password, role or active): "
                               "you will be logged out and must log in again.",
    "admin.log_out_after": "Save and log out",
    "admin.roles": "Roles",
    "admin.role_name": "Role name",
    "admin.add_role": "Add role",
    "admin.save_role": "Save role {name}",
    "admin.col_permissions": "Permissions",
    "admin.col_users": "Users",
    "admin.no_roles": "No roles.",
    "admin.edit_role": "Edit role {name}",
    "admin.delete_role": "Delete role {name}",
    "admin.confirm_delete_role": "Delete the role “{name}”? This cannot be undone.",
    "admin.role_in_use": {"one": "The role “{name}” is held by {n} user: give them another role first.",
                          "other": "The role “{name}” is held by {n} users: give them another role first."},
    "admin.confirm_role_permissions": {
        "one": "Changing the permissions of “{name}” logs out its {n} user.",
        "other": "Changing the permissions of “{name}” logs out its {n} users."},
    "admin.confirm_role_own": "It is your own role: you will be logged out too.",
    "admin.editing": "Editing {what}",
    # -- lockers --------------------------------------------------------------------------------
    "lockers.title": "Lockers",
    "lockers.id_tag": "Id tag for charging",
    "lockers.loading": "Loading…",
    "lockers.audit": "Audit log",
    "lockers.col_when": "When",
    "lockers.col_who": "Who",
    "lockers.col_action": "Action",
    "lockers.col_locker": "Locker",
    "lockers.col_details": "Details",
    "lockers.no_audit": "No audit entries yet.",
    "lockers.none": "No lockers: configure the locker bridge (CHARGEBAY_BRIDGE_CONFIG) or run the demo.",
    "lockers.bays": {"one": "{n} bay", "other": "{n} bays"},
    "lockers.bay": "Bay {bay}",
    "lockers.door": "Door",
    "lockers.item": "Item",
    "lockers.charging": "Charging",
    "lockers.power": "Power",
    "lockers.watts": "{w} W",
    "lockers.service": "Service",
    "lockers.out_of_service": "out of service",
    "lockers.open": "Open",
    "lockers.open_door": "Open door",
    "lockers.stop": "Stop",
    "lockers.charge": "Charge",
    "lockers.set_in_service": "In service",
    "lockers.set_out_of_service": "Out of service",
    "lockers.open_all": "Open all doors",
    "lockers.confirm_open": "Open the door of bay {bay} ({identity}) in {bank}? Its lock releases "
                            "at once and whatever is inside can be taken.",
    "lockers.confirm_open_all": {
        "one": "Open the door of the {n} bay in {bank}? Its lock releases at once and whatever is "
               "inside can be taken.",
        "other": "Open all {n} doors in {bank}, one after the other? Every lock releases and "
                 "whatever is inside can be taken."},
    "lockers.opened_all": "{bank}: {succeeded} of {total} doors opened, {failed} failed, {skipped} skipped.",
}

CATALOGUES: dict[str, dict[str, Text]] = {"en": EN}
LANG = "en"  # one language for now; a second one is a table above and a choice here (or per request)

_FIELD = re.compile(r"\{(\w+)\}")


def _plural(n: Any) -> str:
    """English's two categories; a catalogue in another language needs Babel's rules here."""
    return "one" if n == 1 else "other"


def _text(key: str, n: Any) -> str:
    """The raw text of ``key`` (its plural form for ``n``); an unknown key is shown as itself (a
    page still renders) and logged (tests/ui/test_strings.py fails on it first)."""
    text = CATALOGUES[LANG].get(key)
    if text is None:
        log.warning("no text for %r in the %s catalogue", key, LANG)
        return key
    if isinstance(text, Mapping):
        return text.get(_plural(n), text["other"])
    return text


def _fill(text: str, params: Mapping[str, Any]) -> str:
    return _FIELD.sub(lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), text)


def t(key: str, /, **params: Any) -> str:
    """The text of ``key`` in :data:`LANG` with its ``{fields}`` filled."""
    return _fill(_text(key, params.get("n")), params)


def html(key: str, /, **params: Any) -> Markup:
    """:func:`t` for a template: the text and its params escaped, but for params that are markup
    already (``"<code>make run</code>"|safe``), so a translator's text never injects HTML."""
    escaped = {name: escape(value) for name, value in params.items()}
    return Markup(_fill(str(escape(_text(key, params.get("n")))), escaped))


@functools.cache  # the catalogue is fixed while the app runs
def script(lang: str = LANG) -> str:
    """The catalogue as the script the pages load before app.js (``UI.t`` reads ``STRINGS``)."""
    table = json.dumps(CATALOGUES[lang], ensure_ascii=False, indent=0, sort_keys=True)
    return (f'"use strict";\n// generated from api/ui/strings.py: edit the words there\n'
            f"const STRINGS = {{ lang: {json.dumps(lang)}, texts: {table} }};\n")
