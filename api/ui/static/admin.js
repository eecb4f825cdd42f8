// Admin: API tokens, id tags, back-office users and their roles.
"use strict";
(() => {
  const { api, h, badge, time, fill, act, explain, values } = UI;

  /** A list into a table body, or the reason it could not be read. */
  async function table(id, path, row, empty) {
    const tbody = document.querySelector(`#${id} tbody`);
    const result = await api("GET", path);
    if (!result.ok) { fill(tbody, [h("tr", {}, h("td", { colspan: 6, class: "error" }, explain(result)))]); return []; }
    fill(tbody, result.data.items.map(row), empty);
    return result.data.items;
  }

  const loadTokens = () => table("tokens", "/api/v1/tokens?page_size=200", (t) => h("tr", { dataset: { name: t.name } },
    h("td", {}, String(t.id)), h("td", {}, t.name), h("td", {}, t.role), h("td", {}, time(t.created_at)),
    h("td", {}, time(t.expires_at) || "never"),
    h("td", {}, h("button", { type: "button", class: "danger", onclick: (e) => act(e.currentTarget, "DELETE", `/api/v1/tokens/${t.id}`, undefined, loadTokens) }, "Revoke"))));

  const loadTags = () => table("tags", "/api/v1/id-tags?page_size=200", (t) => h("tr", {},
    h("td", {}, t.id_tag), h("td", {}, badge(t.status)), h("td", {}, time(t.expiry_date) || "—"), h("td", {}, t.parent_id_tag || "—"),
    h("td", {}, h("div", { class: "actions" },
      h("button", { type: "button", onclick: (e) => act(e.currentTarget, "PATCH", `/api/v1/id-tags/${encodeURIComponent(t.id_tag)}`, { status: t.status === "Accepted" ? "Blocked" : "Accepted" }, loadTags) },
        t.status === "Accepted" ? "Block" : "Accept"),
      h("button", { type: "button", class: "danger", onclick: (e) => act(e.currentTarget, "DELETE", `/api/v1/id-tags/${encodeURIComponent(t.id_tag)}`, undefined, loadTags) }, "Delete")))), "No id tags.");

  const loadUsers = () => table("users", "/api/users?pageSize=200", (u) => h("tr", {},
    h("td", {}, u.username), h("td", {}, u.name), h("td", {}, u.role || "—"),
    h("td", {}, u.active ? "yes" : "no"), h("td", {}, u.hasPassword ? "set" : "none")), "No users.");

  async function loadRoles() {
    const roles = await table("roles", "/api/roles?pageSize=200", (r) => h("tr", {},
      h("td", {}, r.name), h("td", {}, r.permissions.join(", ") || "—"), h("td", {}, String(r.users))), "No roles.");
    document.getElementById("user-role").replaceChildren(h("option", { value: "" }, "No role"),
      ...roles.map((r) => h("option", { value: r.id }, r.name)));
  }

  /** Wire a create form: POST its values, then reload its table (and show what came back). */
  function creates(formId, path, reload, shape, after) {
    UI.onSubmit(document.getElementById(formId), async (e) => {
      e.preventDefault();
      const form = e.currentTarget;
      const result = await act(form.querySelector("button[type=submit]"), "POST", path, shape(values(form)), reload);
      if (result.ok) { form.reset(); if (after) after(result.data); }
    });
  }

  creates("token-form", "/api/v1/tokens", loadTokens, (v) => v, (token) => {
    const box = document.getElementById("token-secret");
    box.hidden = false;
    box.replaceChildren("Token ", h("strong", {}, token.name), " created. Copy its secret now, it is not shown again: ",
      h("pre", { id: "new-secret" }, token.token));
  });
  creates("tag-form", "/api/v1/id-tags", loadTags, (v) => v);
  creates("user-form", "/api/users", () => Promise.all([loadUsers(), loadRoles()]), // roles count users
    (v) => ({ ...v, roleId: v.roleId ? Number(v.roleId) : null }));
  creates("role-form", "/api/roles", loadRoles, (v) => ({ name: v.name, permissions: v.permissions || [] }));
  loadTokens(); loadTags(); loadUsers(); loadRoles();
})();
