// One charge point: boot data, connectors (an OCPP 2.0.1 station's EVSEs), commands in its OCPP
// version, its device model (2.0.1), transactions with a meter chart, message log.
"use strict";
(() => {
  const { api, h, badge, time, fill, debounce, live, explain, values } = UI;
  const id = document.getElementById("cp").dataset.id;
  const base = "/api/v1/charge-points/" + encodeURIComponent(id);
  const resultBox = document.getElementById("command-result");
  const actionFilter = document.getElementById("action-filter");
  let chartTx = null;
  let chart = null;
  let version = null;
  let cpPinned = null;

  const BOOT = [["Vendor", "vendor"], ["Model", "model"], ["Serial", "charge_point_serial"],
    ["Box serial", "charge_box_serial"], ["Firmware", "firmware_version"], ["Meter", "meter_type"],
    ["OCPP", "ocpp_version", (v) => v && v + (cpPinned ? " (pinned)" : "")],
    ["Registration", "registration_status"], ["Last boot", "last_boot_at", time],
    ["Last seen", "last_seen", time], ["Node", "node_id"]];

  async function loadChargePoint() {
    const result = await api("GET", base);
    if (!result.ok) { document.getElementById("boot").replaceChildren(h("p", { class: "error" }, explain(result))); return; }
    const cp = result.data;
    cpPinned = cp.ocpp_version_pinned;
    showVersion(cp.ocpp_version || cp.ocpp_version_pinned || "1.6");
    const online = document.getElementById("cp-online");
    online.replaceWith(Object.assign(badge(cp.online ? "online" : "offline", cp.online ? "online" : "offline"), { id: "cp-online" }));
    document.getElementById("boot").replaceChildren(...BOOT.flatMap(([label, key, fmt]) =>
      [h("dt", {}, label), h("dd", {}, (fmt ? fmt(cp[key]) : cp[key]) || "—")]));
    document.getElementById("connectors").replaceChildren(version === "2.0.1" ? evseTable(cp.evses) : cp.connectors.length
      ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Connector"), h("th", {}, "Status"), h("th", {}, "Error"), h("th", {}, "Since"))),
        h("tbody", {}, cp.connectors.map((c) => h("tr", { dataset: { connector: c.connector_id } },
          h("td", {}, c.connector_id === 0 ? "0 (charge point)" : String(c.connector_id)),
          h("td", {}, badge(c.status)), h("td", {}, c.error_code && c.error_code !== "NoError" ? c.error_code : ""),
          h("td", {}, time(c.updated_at))))))
      : h("p", { class: "muted" }, "No status reported yet."));
  }

  /** The commands and views of the version the charge point speaks (its last connection's, else the pinned one). */
  function showVersion(v) {
    if (v === version) return;
    version = v;
    const forms = document.querySelector(`template[data-version="${v}"]`) || document.querySelector('template[data-version="1.6"]');
    const box = document.getElementById("commands");
    box.replaceChildren(forms.content.cloneNode(true));
    for (const form of box.querySelectorAll("form.command")) UI.onSubmit(form, send);
    document.getElementById("device-model-card").hidden = v !== "2.0.1";
    if (v === "2.0.1") loadDeviceModel();
  }

  /** A 2.0.1 station's topology: each EVSE's connectors and their last status. */
  function evseTable(evses) {
    if (!evses.length) return h("p", { class: "muted" }, "No EVSE reported yet.");
    return h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "EVSE"), h("th", {}, "Connector"), h("th", {}, "Status"), h("th", {}, "Since"))),
      h("tbody", {}, evses.flatMap((e) => e.connectors.map((c) => h("tr", { dataset: { evse: e.evse_id, connector: c.connector_id } },
        h("td", {}, String(e.evse_id)), h("td", {}, String(c.connector_id)), h("td", {}, badge(c.status)),
        h("td", {}, time(c.timestamp || c.updated_at)))))));
  }

  const componentFilter = document.getElementById("component-filter");
  const variableFilter = document.getElementById("variable-filter");

  async function loadDeviceModel() {
    const query = new URLSearchParams();
    if (componentFilter.value.trim()) query.set("component", componentFilter.value.trim());
    if (variableFilter.value.trim()) query.set("variable", variableFilter.value.trim());
    const result = await api("GET", `${base}/variables?${query}`);
    if (!result.ok) return;
    const part = (name, instance) => instance ? `${name} (${instance})` : name;
    fill(document.querySelector("#device-model tbody"), result.data.items.map((v) =>
      h("tr", { dataset: { component: v.component, variable: v.variable } },
        h("td", {}, part(v.component, v.component_instance)), h("td", {}, v.evse_id ? String(v.evse_id) + (v.connector_id ? "/" + v.connector_id : "") : ""),
        h("td", {}, part(v.variable, v.variable_instance)), h("td", {}, v.attribute_type), h("td", {}, v.value ?? ""),
        h("td", {}, v.mutability || ""), h("td", {}, v.unit || ""), h("td", {}, v.source))),
    query.toString() ? "No variable matches." : "No device model reported yet (send Get base report).");
  }

  async function loadTransactions() {
    const result = await api("GET", "/api/v1/transactions?page_size=10&charge_point_id=" + encodeURIComponent(id));
    if (!result.ok) return;
    const items = result.data.items;
    const running = items.find((tx) => tx.active);
    const stopField = document.querySelector('[data-action="RemoteStopTransaction"] [name=transactionId]');
    if (running && stopField && document.activeElement !== stopField) stopField.value = running.id;
    const stop201 = document.querySelector('[data-action="RequestStopTransaction"] [name=transactionId]');
    if (running && stop201 && running.station_transaction_id && document.activeElement !== stop201) stop201.value = running.station_transaction_id;
    fill(document.querySelector("#transactions tbody"), items.map((tx) =>
      h("tr", { class: "clickable", onclick: () => { chartTx = tx.id; loadChart(); } },
        h("td", {}, h("a", { href: "#chart-title" }, String(tx.id)),
          tx.station_transaction_id ? h("span", { class: "muted" }, " " + tx.station_transaction_id) : ""), h("td", {}, String(tx.connector_id)), h("td", {}, tx.id_tag),
        h("td", {}, time(tx.start_timestamp)), h("td", {}, tx.active ? badge("Charging", "running") : time(tx.stop_timestamp)),
        h("td", {}, tx.energy_wh ?? ""), h("td", {}, tx.stop_reason || ""))), "No transactions yet.");
    if (chartTx === null && items.length) chartTx = items[0].id;
    loadChart();
  }

  /** Energy delivered (Wh, from the transaction's meterStart) and power (kW) over time, from the
   *  transaction's stored meter values. */
  async function loadChart() {
    if (chartTx === null) return;
    const result = await api("GET", "/api/v1/transactions/" + chartTx);
    if (!result.ok) return;
    const points = new Map();
    for (const mv of result.data.meter_values) {
      const measurand = mv.measurand || "Energy.Active.Import.Register";
      if (mv.outside_tx || mv.phase || !["Energy.Active.Import.Register", "Power.Active.Import"].includes(measurand)) continue;
      const t = Date.parse(mv.timestamp) / 1000;
      const kilo = (mv.unit || "").startsWith("k");
      const point = points.get(t) || [null, null];
      if (measurand === "Power.Active.Import") point[1] = Number(mv.value) / (kilo ? 1 : 1000);
      else point[0] = Number(mv.value) * (kilo ? 1000 : 1) - result.data.meter_start;
      points.set(t, point);
    }
    const xs = [...points.keys()].sort((a, b) => a - b);
    document.getElementById("chart-title").textContent =
      `Meter values of transaction ${chartTx} (${xs.length} samples)`;
    const box = document.getElementById("chart");
    if (typeof uPlot === "undefined" || !xs.length) { box.replaceChildren(); chart = null; return; }
    const data = [xs, xs.map((x) => points.get(x)[0]), xs.map((x) => points.get(x)[1])];
    if (chart && chart.tx === chartTx) { chart.setData(data); return; }
    box.replaceChildren();
    chart = new uPlot({
      width: box.clientWidth || 600, height: 240,
      series: [{}, { label: "Energy (Wh)", stroke: "#1a66d6", width: 2, scale: "Wh", spanGaps: true },
        { label: "Power (kW)", stroke: "#c77800", width: 2, scale: "kW", spanGaps: true }],
      axes: [{}, { scale: "Wh", label: "Wh", size: 70 }, { scale: "kW", label: "kW", side: 1, size: 60, grid: { show: false } }],
    }, data, box);
    chart.tx = chartTx;
  }

  const KIND = { 2: "CALL", 3: "CALLRESULT", 4: "CALLERROR" };

  /** A frame's payload, pretty (a CALLERROR's code, description and details); as sent if not JSON. */
  function payload(frame) {
    try {
      const f = JSON.parse(frame);
      const body = f[0] === 2 ? f[3] : f[0] === 3 ? f[2] : { errorCode: f[2], errorDescription: f[3], errorDetails: f[4] };
      return JSON.stringify(body, null, 2);
    } catch (_) {
      return frame;
    }
  }

  async function loadMessages() {
    const action = actionFilter.value.trim();
    const result = await api("GET", `${base}/messages?page_size=100${action ? "&action=" + encodeURIComponent(action) : ""}`);
    if (!result.ok) return;
    const list = document.getElementById("messages");
    const seen = new Set([...document.querySelectorAll("#actions option")].map((o) => o.value));
    for (const m of result.data.items) {
      if (m.action && !seen.has(m.action)) { seen.add(m.action); document.getElementById("actions").append(h("option", { value: m.action })); }
    }
    list.replaceChildren(...result.data.items.map((m) => h("li", { dataset: { action: m.action || "" } },
      h("span", { class: "dir " + m.direction }, m.direction === "in" ? "⟵ in" : "⟶ out"), " ",
      h("strong", {}, m.action || "?"), " ", h("span", { class: "muted" }, `${KIND[m.message_type] || ""} #${m.message_id || ""} · ${time(m.ts)}`),
      h("pre", {}, payload(m.frame)))));
    if (!result.data.items.length) list.replaceChildren(h("li", { class: "muted" }, "No messages."));
  }

  /** Send one command; show its answer, its CALLERROR or its refusal (a 403 for a viewer). */
  async function send(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const action = form.dataset.action;
    const button = form.querySelector("button");
    button.disabled = true;
    resultBox.hidden = false;
    resultBox.className = "result";
    resultBox.replaceChildren(h("strong", {}, action), " sending…");
    for (const field of form.querySelectorAll("input[data-random]")) field.value = String(1 + Math.floor(Math.random() * 2147483646));
    const result = await api("POST", `${base}/commands/${action}?wait=30`, values(form));
    button.disabled = false;
    resultBox.className = result.ok ? "result" : "result bad";
    resultBox.dataset.status = result.ok ? (result.data.response.status || "ok") : String(result.status);
    resultBox.replaceChildren(h("strong", {}, action), " ",
      result.ok ? `answered ${result.data.response.status || "OK"}` : explain(result),
      h("pre", {}, JSON.stringify(result.ok ? result.data.response : result.data, null, 2)));
  }

  actionFilter.addEventListener("change", loadMessages);
  for (const input of [componentFilter, variableFilter]) input.addEventListener("input", debounce(loadDeviceModel, 250));
  const refresh = debounce(() => {
    loadChargePoint(); loadTransactions(); loadMessages();
    if (version === "2.0.1") loadDeviceModel();
  }, 250);
  live(refresh, { charge_point_id: id });
  loadChargePoint(); loadTransactions(); loadMessages();
  setInterval(() => { loadTransactions(); }, 10000); // meter values arrive without an event
})();
