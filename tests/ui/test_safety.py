"""Issue #21, safety, in a real Chromium against a real stack: nothing that cannot be undone
happens on one click. A door, all doors of a bank, a token (this session's own: a logout), an id
tag, a user, a role or an alert rule is only opened, revoked or deleted after a dialog that names
it says so and is confirmed; Cancel (focused first) and Escape change nothing. Back-office users and roles are
edited and deleted from the Admin page, audited as the API audits them."""

from __future__ import annotations

from typing import Any, cast

from playwright.sync_api import BrowserContext, Locator, Page, ViewportSize, expect

from chargebay.stack import Stack
from locker_bridge.emulator import Emulator
from tests.conftest import ADMIN_TOKEN
from tests.ui.conftest import Served, admin, log_in, shot
from tests.ui.test_dashboard import ok

PHONE: ViewportSize = {"width": 390, "height": 844}


def dialog(page: Page) -> Locator:
    """The confirmation the page shows (UI.confirm), checked to be a labelled modal with Cancel
    focused, so that Enter or Escape does no harm."""
    box = page.get_by_role("alertdialog")
    expect(box).to_be_visible()
    expect(box).to_have_attribute("aria-modal", "true")
    expect(box.locator('[data-answer="cancel"]')).to_be_focused()
    return box


def changes(page: Page) -> list[str]:
    """Every change request the page sends from now on, as 'METHOD path'."""
    sent: list[str] = []
    page.on("request", lambda r: sent.append(f"{r.method} {r.url.split('/', 3)[3]}") if r.method != "GET" else None)
    return sent


def test_doors_open_only_once_confirmed(locker_site: tuple[Stack, Emulator, Served[Any]], page: Page,
                                        context: BrowserContext) -> None:
    stack, emu, _ = locker_site
    with admin(stack) as rest:
        role = ok(rest.post("/api/roles", json={"name": "Site staff", "permissions": ["operate"]}), 201)
        ok(rest.post("/api/users", json={"username": "olga", "name": "Olga Operator",
                                         "roleId": role["id"], "password": "locker room key"}), 201)
    log_in(page, stack.http_url, "admin", username="olga", password="locker room key")
    page.click("nav >> text=Lockers")
    sent = changes(page)
    first = page.locator('.bay[data-identity="LOCKER-A-01"]')
    expect(first).to_have_attribute("data-door", "closed")

    first.locator('[data-act="open"]').click()
    box = dialog(page)
    bank = page.locator(".bank h2").first.inner_text().split(" ")[0]
    expect(box).to_contain_text(f"Open the door of bay 1 (LOCKER-A-01) in {bank}?")
    expect(box.locator('[data-answer="ok"]')).to_have_text("Open door")
    shot(page, "confirm_open_door")
    page.keyboard.press("Escape")  # no
    expect(box).to_have_count(0)
    first.locator('[data-act="open"]').click()
    dialog(page).locator('[data-answer="cancel"]').click()  # no again
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    assert sent == [] and not emu.boards[1].bays[1].door_open

    first.locator('[data-act="open"]').click()
    dialog(page).locator('[data-answer="ok"]').click()
    expect(first).to_have_attribute("data-door", "open")
    assert emu.boards[1].bays[1].door_open
    assert len(sent) == 1 and sent[0].startswith("POST lockers/") and sent[0].endswith("/open"), sent

    page.locator('[data-act="open-all"]').click()
    box = dialog(page)
    expect(box).to_contain_text(f"Open all 4 doors in {bank}, one after the other?")
    page.keyboard.press("Enter")  # on the focused Cancel: no
    expect(box).to_have_count(0)
    assert len(sent) == 1
    page.locator('[data-act="open-all"]').click()
    dialog(page).locator('[data-answer="ok"]').click()
    expect(page.locator("#toast")).to_contain_text(f"{bank}: 4 of 4 doors opened, 0 failed, 0 skipped.")
    assert all(emu.boards[1].bays[n].door_open for n in (1, 2, 3, 4))
    assert sent[1].startswith("POST lockers/open-all?bankId=")
    expect(page.locator("#audit tbody")).to_contain_text("locker.open_all")

    assert context.browser is not None  # the dialog on a phone, in the dark
    phone = context.browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme="dark")
    try:
        phone.add_cookies(cast(Any, context.cookies()))
        small = phone.new_page()
        small.goto(stack.http_url + "/ui/lockers")
        small.locator('.bay[data-identity="LOCKER-A-02"] [data-act="open"]').tap()
        box = dialog(small)
        width = small.evaluate("document.documentElement.clientWidth")
        shape = box.bounding_box()
        assert shape is not None and shape["x"] >= 0 and shape["x"] + shape["width"] <= width
        shot(small, "confirm_open_door_dark_phone")
    finally:
        phone.close()


def test_admin_asks_before_revoking_or_deleting_and_edits_users_and_roles(site: Stack, page: Page) -> None:
    with admin(site) as rest:
        ok(rest.post("/api/v1/tokens", json={"name": "qa-ops", "role": "operator"}), 201)
        ok(rest.post("/api/v1/id-tags", json={"id_tag": "TAG-GONE"}), 201)
    log_in(page, site.http_url, token=ADMIN_TOKEN)
    page.click("nav >> text=Admin")
    sent = changes(page)

    token = page.locator('#tokens tr[data-name="qa-ops"]')
    token.get_by_role("button", name="Revoke token qa-ops").click()
    box = dialog(page)
    expect(box).to_contain_text("Revoke the API token “qa-ops”")
    expect(box).not_to_contain_text("logged out")
    box.locator('[data-answer="cancel"]').click()
    assert sent == []
    token.get_by_role("button", name="Revoke token qa-ops").click()
    dialog(page).locator('[data-answer="ok"]').click()
    expect(token).to_have_count(0)

    tag = page.locator('#tags tr[data-tag="TAG-GONE"]')
    tag.get_by_role("button", name="Delete id tag TAG-GONE").click()
    expect(dialog(page)).to_contain_text("Delete the id tag “TAG-GONE”?")
    page.keyboard.press("Escape")
    expect(tag).to_have_count(1)
    tag.get_by_role("button", name="Delete id tag TAG-GONE").click()
    dialog(page).locator('[data-answer="ok"]').click()
    expect(tag).to_have_count(0)

    # a role and a user made on the page, then edited in their forms
    page.fill('#role-form [name="name"]', "Auditors")
    page.check('#role-form [value="view"]')
    page.click("#role-form button[type=submit]")
    page.fill('#user-form [name="username"]', "vera")
    page.fill('#user-form [name="name"]', "Vera Viewer")
    page.select_option("#user-role", label="Auditors")
    page.click("#user-form button[type=submit]")
    vera = page.locator('#users tr[data-username="vera"]')
    expect(vera).to_contain_text("Auditors")
    vera.get_by_role("button", name="Edit user vera").click()
    form = page.locator("#user-form")
    expect(form).to_have_class("filters editing")
    expect(form.locator('[name="name"]')).to_have_value("Vera Viewer")
    expect(form.locator("button[type=submit]")).to_have_text("Save user vera")
    form.locator('[name="name"]').fill("Vera Verified")
    form.locator('[name="active"]').uncheck()
    page.select_option("#user-role", label="No role")
    form.locator("button[type=submit]").click()
    expect(vera).to_contain_text("Vera Verified")
    expect(vera.locator("td").nth(2)).to_have_text("—")
    expect(vera.locator("td").nth(3)).to_have_text("no")
    expect(form.locator("button[type=submit]")).to_have_text("Add user")  # back to adding
    with admin(site) as rest:
        user = ok(rest.get("/api/users", params={"q": "vera"}))["items"][0]
    assert (user["name"], user["roleId"], user["active"]) == ("Vera Verified", None, False)

    auditors = page.locator('#roles tr[data-role="Auditors"]')
    auditors.get_by_role("button", name="Edit role Auditors").click()
    page.fill('#role-form [name="name"]', "Readers")
    page.click("#role-form button[type=submit]")  # no user holds it: nothing to ask
    readers = page.locator('#roles tr[data-role="Readers"]')
    expect(readers).to_contain_text("view")
    shot(page, "admin_edited")

    with admin(site) as rest:  # a role in use is not offered for deletion: it says why
        readers_id = ok(rest.get("/api/roles", params={"q": "Readers"}))["items"][0]["id"]
        ok(rest.patch(f"/api/users/{user['id']}", json={"roleId": readers_id}))
    page.reload()
    readers.get_by_role("button", name="Delete role Readers").click()
    expect(page.locator("#toast")).to_contain_text(
        "The role “Readers” is held by 1 user: give them another role first.")
    expect(page.get_by_role("alertdialog")).to_have_count(0)
    readers.get_by_role("button", name="Edit role Readers").click()
    page.check('#role-form [value="operate"]')
    page.click("#role-form button[type=submit]")  # its user would be logged out: asked
    box = dialog(page)
    expect(box).to_contain_text("Changing the permissions of “Readers” logs out its 1 user.")
    box.locator('[data-answer="ok"]').click()
    expect(readers.locator("td").nth(1)).to_have_text("operate, view")

    vera.get_by_role("button", name="Delete user vera").click()
    expect(dialog(page)).to_contain_text("Delete the user “vera” (Vera Verified)?")
    page.locator('[data-answer="ok"]').click()
    expect(vera).to_have_count(0)
    readers.get_by_role("button", name="Delete role Readers").click()
    expect(dialog(page)).to_contain_text("Delete the role “Readers”?")
    page.locator('[data-answer="ok"]').click()
    expect(readers).to_have_count(0)
    with admin(site) as rest:
        actions = [e["action"] for e in ok(rest.get("/api/logs", params={"pageSize": 50}))["items"]]
    for action in ("user.edit", "user.delete", "role.edit", "role.delete"):
        assert action in actions, actions

    page.click("nav >> text=Alerts")  # an alert rule, too
    rule = page.locator('#rules-table tr[data-kind="boot_rejected"]')
    rule.get_by_role("button", name="Delete").click()
    expect(dialog(page)).to_contain_text('Delete the rule "Boot rejected"?')
    page.keyboard.press("Escape")
    expect(rule).to_have_count(1)
    rule.get_by_role("button", name="Delete").click()
    dialog(page).locator('[data-answer="ok"]').click()
    expect(rule).to_have_count(0)
    page.click("nav >> text=Admin")

    # this session's own token: the dialog says so, and confirming logs out
    own = page.locator("#tokens tr", has_text="this session")
    expect(own).to_have_attribute("data-name", "CHARGEBAY_API_TOKEN")
    own.get_by_role("button").click()
    box = dialog(page)
    expect(box).to_contain_text("It is the token of this session: you will be logged out at once.")
    shot(page, "confirm_revoke_own_token")
    box.locator('[data-answer="ok"]').click()
    expect(page.locator("h1")).to_have_text("Operator dashboard")  # the login page


def test_editing_your_own_login_says_it_logs_you_out(site: Stack, page: Page) -> None:
    with admin(site) as rest:
        role = ok(rest.post("/api/roles", json={"name": "Admins", "permissions": ["admin"]}), 201)
        ok(rest.post("/api/users", json={"username": "adam", "name": "Adam Admin", "roleId": role["id"],
                                         "password": "an admin's passphrase"}), 201)
    log_in(page, site.http_url, "admin", username="adam", password="an admin's passphrase")
    page.click("nav >> text=Admin")
    me = page.locator('#users tr[data-username="adam"]')
    expect(me).to_contain_text("(you)")
    expect(me.get_by_role("button", name="Delete user adam")).to_have_count(0)  # the API refuses it

    me.get_by_role("button", name="Edit user adam").click()
    page.fill('#user-form [name="name"]', "Adam A.")
    page.click("#user-form button[type=submit]")  # a name does not log anyone out: not asked
    expect(me).to_contain_text("Adam A.")
    expect(page.get_by_role("alertdialog")).to_have_count(0)

    me.get_by_role("button", name="Edit user adam").click()
    page.fill('#user-form [name="password"]', "a brand new passphrase")
    page.click("#user-form button[type=submit]")
    box = dialog(page)
    expect(box).to_contain_text("you will be logged out")
    expect(box.locator('[data-answer="ok"]')).to_have_text("Save and log out")
    box.locator('[data-answer="cancel"]').click()
    expect(page.locator("#user-form")).to_have_class("filters editing")  # still editing, unsaved
    page.click("#user-form button[type=submit]")
    dialog(page).locator('[data-answer="ok"]').click()
    expect(page.locator("h1")).to_have_text("Operator dashboard")
    log_in(page, site.http_url, "admin", username="adam", password="a brand new passphrase")
    expect(page.locator(".who")).to_contain_text("adam")
