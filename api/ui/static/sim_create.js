// Simulator, new chargers: one by its identity, or N of a template under an id prefix in one
// request (POST /ocpp/chargers/from-template: all or none), started at once when asked.
"use strict";
const SimCreate = (() => {
  const { t, api, act, values } = UI;

  /** The identities a batch makes: the prefix and numbers zero-padded to the widest (at least 3). */
  function batch(data) {
    const count = Math.max(1, data.count || 1), first = data.first ?? 1;
    const digits = Math.max(3, String(first + count - 1).length);
    const name = (n) => data.name + String(n).padStart(digits, "0");
    return { count, first, digits, from: name(first), to: name(first + count - 1) };
  }

  function preview(form) {
    const data = values(form);
    const many = (data.count || 1) > 1;
    form.querySelector("[data-many]").hidden = !many;
    const out = document.getElementById("create-preview");
    if (!data.name) { out.textContent = ""; return; }
    const b = batch(data);
    out.textContent = many ? t("simulator.makes_many", { n: b.count, from: b.from, to: b.to }) : t("simulator.makes_one", { name: data.name });
  }

  /** One charger (the single create, then its start), or a batch in one request. */
  async function submit(form, button) {
    const data = values(form);
    const shape = { template: data.template, ocpp_version: data.ocpp_version, atg: Boolean(data.atg) };
    if ((data.count || 1) <= 1) {
      const made = await act(button, "POST", "/ocpp/chargers", { ...shape, identity: data.name });
      if (made.ok && data.start) await act(null, "POST", `/ocpp/chargers/${made.data.id}/start-charger`);
      return made.ok;
    }
    const b = batch(data);
    const made = await act(button, "POST", "/ocpp/chargers/from-template",
      { ...shape, prefix: data.name, count: b.count, first: b.first, digits: b.digits, start: Boolean(data.start) });
    if (made.ok) UI.toast(t(made.data.started ? "simulator.made_starting" : "simulator.made", { n: made.data.items.length, from: b.from, to: b.to }));
    return made.ok;
  }

  /** Wire the form `#create`; `done` runs after each create (the page refreshes its list). */
  async function init(done) {
    const form = document.getElementById("create");
    form.addEventListener("input", () => preview(form));
    UI.onSubmit(form, async (e) => {
      e.preventDefault();
      if (await submit(form, form.querySelector("button[type=submit]"))) { form.reset(); preview(form); }
      done();
    });
    const result = await api("GET", "/ocpp/templates");
    if (result.ok) document.getElementById("templates").replaceChildren(...result.data.templates.map((name) => UI.h("option", {}, name)));
  }

  return { init };
})();
