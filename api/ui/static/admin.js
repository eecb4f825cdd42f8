// Admin: API tokens, id tags, back-office users and their roles. Users and roles are edited in
// their create form; whatever cannot be undone (a revocation, a deletion, a change that logs
// someone out) is asked first (UI.confirm) in a sentence naming what happens to what.
"use strict";
(() => {
  const { t, api, h, badge, time, fill, act, explain, values, confirm, toast } = UI;
  const me = { token: Number(document.body.dataset.tokenId) || null, user: Number(document.body.dataset.userId) || null };
  let myRoleId = null; // the role of the user logged in, if a password login (from the users list)

  /** A list into a table body, or the reason it could not be read. */
  async function table(id, path, row, empty) {
    const tbody = document.querySelector(`#${id} tbody`);
    const result = await api("GET", path);
    if (!result.ok) { fill(tbody, [h("tr", {}, h("td", { colspan: 6, class: "error" }, explain(result)))]); return []; }
    fill(tbody, result.data.items.map(row), empty);
    return result.data.items;
  }

  /** A row's button that deletes (or revokes) `path` once `question` is answered yes, then runs
   * `then` (a reload). `label` is what the button and the dialog's yes say, `name` the button's
   * accessible name (a table holds many "Delete"s). */
  const deleting = (label, name, question, path, then) => h("button", { type: "button", class: "danger",
    "data-act": "delete", "aria-label": name, onclick: async (e) => {
      const button = e.currentTarget;
      if (await confirm(question, { action: label, danger: true })) await act(button, "DELETE", path, undefined, then);
    } }, label);

  const mark = (own, text) => own && [" ", h("span", { class: "you" }, `(${text})`)];

  const loadTokens = () => table("tokens", "/api/v1/tokens?page_size=200", (tk) => {
    const own = tk.id === me.token; // revoking it ends this very session
    return h("tr", { dataset: { name: tk.name, id: tk.id } },
      h("td", {}, String(tk.id)), h("td", {}, tk.name, mark(own, t("admin.this_session"))), h("td", {}, tk.role),
      h("td", {}, time(tk.created_at)), h("td", {}, time(tk.expires_at) || t("common.never")),
      h("td", {}, deleting(t("admin.revoke"), t("admin.revoke_token", { name: tk.name }),
        t(own ? "admin.confirm_revoke_own" : "admin.confirm_revoke", { name: tk.name, id: tk.id }),
        `/api/v1/tokens/${tk.id}`, own ? (r) => (r.ok ? location.assign("/") : loadTokens()) : loadTokens)));
  });

  const loadTags = () => table("tags", "/api/v1/id-tags?page_size=200", (tag) => {
    const path = `/api/v1/id-tags/${encodeURIComponent(tag.id_tag)}`;
    const accepted = tag.status === "Accepted";
    return h("tr", { dataset: { tag: tag.id_tag } },
      h("td", {}, tag.id_tag), h("td", {}, badge(tag.status)), h("td", {}, time(tag.expiry_date) || t("common.none")),
      h("td", {}, tag.parent_id_tag || t("common.none")),
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", onclick: (e) => act(e.currentTarget, "PATCH", path, { status: accepted ? "Blocked" : "Accepted" }, loadTags) },
          t(accepted ? "admin.block" : "admin.accept")),
        deleting(t("common.delete"), t("admin.delete_tag", { tag: tag.id_tag }),
          t("admin.confirm_delete_tag", { tag: tag.id_tag }), path, loadTags))));
  }, t("admin.no_tags"));

  const reloadPeople = () => Promise.all([loadUsers(), loadRoles()]); // roles count their users

  const loadUsers = () => table("users", "/api/users?pageSize=200", (u) => {
    const own = u.id === me.user; // the server refuses to delete it (CannotDeleteSelf): no button
    if (own) myRoleId = u.roleId;
    return h("tr", { dataset: { username: u.username } },
      h("td", {}, u.username, mark(own, t("admin.you"))), h("td", {}, u.name), h("td", {}, u.role || t("common.none")),
      h("td", {}, t(u.active ? "common.yes" : "common.no")),
      h("td", {}, t(u.hasPassword ? "admin.password_set" : "admin.password_none")),
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", "data-act": "edit", "aria-label": t("admin.edit_user", { username: u.username }),
          onclick: () => users.edit(u) }, t("common.edit")),
        !own && deleting(t("common.delete"), t("admin.delete_user", { username: u.username }),
          t("admin.confirm_delete_user", { username: u.username, name: u.name }), `/api/users/${u.id}`, reloadPeople))));
  }, t("admin.no_users"));

  async function loadRoles() {
    const roles = await table("roles", "/api/roles?pageSize=200", (r) => h("tr", { dataset: { role: r.name } },
      h("td", {}, r.name), h("td", {}, r.permissions.join(", ") || t("common.none")), h("td", {}, String(r.users)),
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", "data-act": "edit", "aria-label": t("admin.edit_role", { name: r.name }),
          onclick: () => rolesForm.edit(r) }, t("common.edit")),
        r.users
          ? h("button", { type: "button", class: "danger", "data-act": "delete", "aria-label": t("admin.delete_role", { name: r.name }),
            onclick: () => toast(t("admin.role_in_use", { name: r.name, n: r.users }), true) }, t("common.delete"))
          : deleting(t("common.delete"), t("admin.delete_role", { name: r.name }),
            t("admin.confirm_delete_role", { name: r.name }), `/api/roles/${r.id}`, loadRoles)))), t("admin.no_roles"));
    const pick = document.getElementById("user-role");
    const chosen = pick.value;
    pick.replaceChildren(h("option", { value: "" }, t("admin.no_role")), ...roles.map((r) => h("option", { value: r.id }, r.name)));
    pick.value = chosen;
  }

  /** Wire a create form: POST its values, then reload its table (and hand what came back to
   * `after`). With `edit`, the form also edits one item: `edit(item)` fills it, its submit PATCHes
   * what changed (`patch`), after `check` agrees; a save or Cancel makes it the create form again. */
  function form(id, { path, reload, shape = (v) => v, after, edit }) {
    const box = document.getElementById(id);
    const submit = box.querySelector("button[type=submit]");
    const cancel = box.querySelector(".cancel-edit");
    const note = box.querySelector(".editing-note");
    let item = null;
    function reset() {
      item = null;
      box.reset();
      box.classList.remove("editing");
      if (edit) { submit.textContent = box.dataset.add; cancel.hidden = note.hidden = true; edit.leave?.(box); }
    }
    if (cancel) cancel.addEventListener("click", reset);
    UI.onSubmit(box, async (e) => {
      e.preventDefault();
      const editing = item;
      const body = editing ? edit.patch(values(box), editing) : shape(values(box));
      if (editing && !Object.keys(body).length) { reset(); return; } // nothing changed
      if (editing && edit.check && !await edit.check(body, editing)) return;
      const result = await act(submit, editing ? "PATCH" : "POST", editing ? edit.path(editing) : path, body, reload);
      if (result.ok) { reset(); if (after) after(result.data); }
    });
    return {
      edit(it) {
        item = it;
        box.reset();
        edit.fill(box, it);
        box.classList.add("editing");
        submit.textContent = edit.label(it);
        note.textContent = t("admin.editing", { what: edit.what(it) });
        cancel.hidden = note.hidden = false;
        box.querySelector("input:not([type=hidden])").focus();
      },
    };
  }

  form("token-form", { path: "/api/v1/tokens", reload: loadTokens, after: (token) => {
    const box = document.getElementById("token-secret");
    box.hidden = false;
    box.replaceChildren(t("admin.token_created", { name: token.name }), " ", h("pre", { id: "new-secret" }, token.token));
  } });
  form("tag-form", { path: "/api/v1/id-tags", reload: loadTags });

  const roleOf = (v) => (v.roleId ? Number(v.roleId) : null);
  const users = form("user-form", { path: "/api/users", reload: reloadPeople,
    shape: (v) => ({ ...v, roleId: roleOf(v) }),
    edit: {
      path: (u) => `/api/users/${u.id}`,
      label: (u) => t("admin.save_user", { username: u.username }),
      what: (u) => u.username,
      fill(box, u) {
        for (const key of ["username", "name"]) box.elements[key].value = u[key];
        box.elements.roleId.value = u.roleId ?? "";
        box.elements.active.checked = u.active;
        const password = box.elements.password;
        password.placeholder = password.dataset.edit;
        password.setAttribute("aria-label", password.dataset.edit);
      },
      leave(box) {
        const password = box.elements.password;
        password.placeholder = password.dataset.add;
        password.setAttribute("aria-label", password.dataset.add);
      },
      patch(v, u) { // only what changed: an unchanged username must not log the user out
        const body = {};
        for (const key of ["username", "name"]) if (v[key] !== u[key]) body[key] = v[key];
        if (roleOf(v) !== u.roleId) body.roleId = roleOf(v);
        if (v.active !== u.active) body.active = v.active;
        if (v.password) body.password = v.password;
        return body;
      },
      async check(body, u) { // what the server logs out for (lockers/backoffice/users.py)
        const logsOut = ["username", "password", "roleId"].some((key) => key in body) || body.active === false;
        return u.id !== me.user || !logsOut || confirm(t("admin.confirm_edit_self"), { action: t("admin.log_out_after"), danger: true });
      },
    } });

  const rolesForm = form("role-form", { path: "/api/roles", reload: reloadPeople, // users show role names
    shape: (v) => ({ name: v.name, permissions: v.permissions || [] }),
    edit: {
      path: (r) => `/api/roles/${r.id}`,
      label: (r) => t("admin.save_role", { name: r.name }),
      what: (r) => r.name,
      fill(box, r) {
        box.elements.name.value = r.name;
        for (const check of box.querySelectorAll("[name=permissions]")) check.checked = r.permissions.includes(check.value);
      },
      patch(v, r) {
        const body = {};
        const permissions = v.permissions || [];
        if (v.name !== r.name) body.name = v.name;
        if (permissions.length !== r.permissions.length || permissions.some((p) => !r.permissions.includes(p))) body.permissions = permissions;
        return body;
      },
      async check(body, r) { // changed permissions log out the role's users, maybe us
        if (!("permissions" in body) || !r.users) return true;
        const own = r.id === myRoleId;
        const question = t("admin.confirm_role_permissions", { name: r.name, n: r.users }) + (own ? " " + t("admin.confirm_role_own") : "");
        return confirm(question, { action: own ? t("admin.log_out_after") : t("common.save"), danger: true });
      },
    } });

  loadTokens(); loadTags(); loadUsers(); loadRoles();
})();
