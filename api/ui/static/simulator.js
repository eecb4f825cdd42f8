// Simulator: the chargers of the REST-managed simulator, their runtime, controls, faults and logs.
"use strict";
(() => {
  const { api, h, badge, fill, debounce, live, act, explain, time } = UI;
  const tbody = document.querySelector("#chargers tbody");
  const selected = new Set();
  let logCharger = null;

  const RUNTIME = { CONNECTED: "Available", PROVISIONING: "Preparing", PENDING: "Preparing", STOPPED: "Unavailable", PROVISIONED: "Unavailable" };
  // Fault injection: [label, action, arguments] for POST /ocpp/sim/{identity}/{action}
  const FAULTS = [["Plug", "plug", { connector_id: 1 }], ["Unplug", "unplug", { connector_id: 1 }],
    ["Fault", "fault-connector", { connector_id: 1, error_code: "GroundFailure" }],
    ["Clear fault", "clear-fault", { connector_id: 1 }], ["Drop link", "drop-connection", {}],
    ["Power loss", "power-loss", {}]];

  function updateSelection() {
    document.getElementById("selected-count").textContent = `${selected.size} selected`;
  }

  function row(charger, state) {
    const runtime = (state && state.runtime) || {};
    const status = state ? state.status : "unknown";
    const path = "/ocpp/chargers/" + charger.id;
    const control = (label, op) => h("button", { type: "button", onclick: (e) => act(e.currentTarget, "POST", `${path}/${op}`, undefined, load) }, label);
    const sig = JSON.stringify([charger, state, selected.has(charger.id)]);
    return h("tr", { dataset: { identity: charger.identity, status, sig } },
      h("td", {}, h("input", { type: "checkbox", "aria-label": "Select " + charger.identity, checked: selected.has(charger.id),
        onchange: (e) => { e.target.checked ? selected.add(charger.id) : selected.delete(charger.id); updateSelection(); } })),
      h("td", {}, h("a", { href: "/ui/charge-points/" + encodeURIComponent(charger.identity) }, charger.identity)),
      h("td", {}, charger.template, charger.atg ? " · ATG" : ""),
      h("td", { class: "runtime" }, badge(RUNTIME[status] || "unknown", status)),
      h("td", {}, h("div", { class: "pills" }, (runtime.connectors || []).map((c) => badge(c.status, `${c.id ?? c.connector_id} ${c.status}`)))),
      h("td", {}, h("div", { class: "actions" }, control("Start", "start-charger"), control("Stop", "stop-charger"),
        control("Restart", "restart-charger"),
        h("button", { type: "button", onclick: () => { logCharger = charger; loadLog(); } }, "Log"))),
      h("td", {}, h("div", { class: "actions" }, FAULTS.map(([label, action, args]) =>
        h("button", { type: "button", "data-fault": action,
          onclick: (e) => act(e.currentTarget, "POST", `/ocpp/sim/${encodeURIComponent(charger.identity)}/${action}`, args, debounce(load, 300)) }, label)))));
  }

  async function load() {
    const result = await api("GET", "/ocpp/chargers?page_size=1000");
    if (!result.ok) { fill(tbody, [h("tr", {}, h("td", { colspan: 7, class: "error" }, explain(result)))]); return; }
    const chargers = result.data.items;
    const states = await Promise.all(chargers.map((c) => api("GET", `/ocpp/chargers/${c.id}/provisioning`)));
    fill(tbody, chargers.map((c, i) => row(c, states[i].ok ? states[i].data : null)), "No simulated chargers yet: create one above.");
    if (logCharger) loadLog();
  }

  async function loadLog() {
    const card = document.getElementById("log-card");
    card.hidden = false;
    document.getElementById("log-identity").textContent = logCharger.identity;
    const result = await api("GET", `/ocpp/chargers/${logCharger.id}/logs?page_size=100`);
    const list = document.getElementById("log");
    if (!result.ok) { list.replaceChildren(h("li", { class: "error" }, explain(result))); return; }
    list.replaceChildren(...result.data.items.map((e) => h("li", {},
      h("span", { class: "muted" }, time(e.ts)), " ", h("strong", {}, e.kind), h("pre", {}, e.text))));
  }

  async function loadTemplates() {
    const result = await api("GET", "/ocpp/templates");
    if (result.ok) document.getElementById("templates").replaceChildren(...result.data.templates.map((t) => h("option", {}, t)));
  }

  UI.onSubmit(document.getElementById("create"), async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const data = Object.fromEntries(new FormData(form));
    const body = { identity: data.identity, template: data.template, atg: Boolean(data.atg) };
    const created = await act(form.querySelector("button[type=submit]"), "POST", "/ocpp/chargers", body);
    if (created.ok && data.start) await act(null, "POST", `/ocpp/chargers/${created.data.id}/start-charger`);
    if (created.ok) form.reset();
    load();
  });
  document.getElementById("select-all").addEventListener("change", (e) => {
    for (const box of tbody.querySelectorAll("input[type=checkbox]")) {
      box.checked = e.target.checked;
      box.dispatchEvent(new Event("change"));
    }
  });
  for (const button of document.querySelectorAll("[data-bulk]")) {
    button.addEventListener("click", async () => {
      if (!selected.size) { UI.toast("Select chargers first", true); return; }
      const result = await act(button, "POST", `/ocpp/chargers/bulk/${button.dataset.bulk}`, { ids: [...selected] }, load);
      if (result.ok) UI.toast(`${result.data.results.filter((r) => r.ok).length} of ${selected.size} done`);
    });
  }
  live(debounce(load, 400));
  loadTemplates();
  load();
})();
