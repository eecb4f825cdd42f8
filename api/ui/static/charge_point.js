// One charge point: boot data, connectors, commands, transactions with a meter chart, message log.
"use strict";
(() => {
  const { api, h, badge, time, fill, debounce, live, explain, values } = UI;
  const id = document.getElementById("cp").dataset.id;
  const base = "/api/v1/charge-points/" + encodeURIComponent(id);
  const resultBox = document.getElementById("command-result");
  const actionFilter = document.getElementById("action-filter");
  let chartTx = null;
  let chart = null;

  const BOOT = [["Vendor", "vendor"], ["Model", "model"], ["Serial", "charge_point_serial"],
    ["Box serial", "charge_box_serial"], ["Firmware", "firmware_version"], ["Meter", "meter_type"],
    ["Registration", "registration_status"], ["Last boot", "last_boot_at", time],
    ["Last seen", "last_seen", time], ["Node", "node_id"]];

  async function loadChargePoint() {
    const result = await api("GET", base);
    if (!result.ok) { document.getElementById("boot").replaceChildren(h("p", { class: "error" }, explain(result))); return; }
    const cp = result.data;
    const online = document.getElementById("cp-online");
    online.replaceWith(Object.assign(badge(cp.online ? "online" : "offline", cp.online ? "online" : "offline"), { id: "cp-online" }));
    document.getElementById("boot").replaceChildren(...BOOT.flatMap(([label, key, fmt]) =>
      [h("dt", {}, label), h("dd", {}, (fmt ? fmt(cp[key]) : cp[key]) || "—")]));
    document.getElementById("connectors").replaceChildren(cp.connectors.length
      ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Connector"), h("th", {}, "Status"), h("th", {}, "Error"), h("th", {}, "Since"))),
        h("tbody", {}, cp.connectors.map((c) => h("tr", { dataset: { connector: c.connector_id } },
          h("td", {}, c.connector_id === 0 ? "0 (charge point)" : String(c.connector_id)),
          h("td", {}, badge(c.status)), h("td", {}, c.error_code && c.error_code !== "NoError" ? c.error_code : ""),
          h("td", {}, time(c.updated_at))))))
      : h("p", { class: "muted" }, "No status reported yet."));
  }

  async function loadTransactions() {
    const result = await api("GET", "/api/v1/transactions?page_size=10&charge_point_id=" + encodeURIComponent(id));
    if (!result.ok) return;
    const items = result.data.items;
    const running = items.find((tx) => tx.active);
    const stopField = document.querySelector('[data-action="RemoteStopTransaction"] [name=transactionId]');
    if (running && document.activeElement !== stopField) stopField.value = running.id;
    fill(document.querySelector("#transactions tbody"), items.map((tx) =>
      h("tr", { class: "clickable", onclick: () => { chartTx = tx.id; loadChart(); } },
        h("td", {}, h("a", { href: "#chart-title" }, String(tx.id))), h("td", {}, String(tx.connector_id)), h("td", {}, tx.id_tag),
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
    const result = await api("POST", `${base}/commands/${action}?wait=30`, values(form));
    button.disabled = false;
    resultBox.className = result.ok ? "result" : "result bad";
    resultBox.dataset.status = result.ok ? (result.data.response.status || "ok") : String(result.status);
    resultBox.replaceChildren(h("strong", {}, action), " ",
      result.ok ? `answered ${result.data.response.status || "OK"}` : explain(result),
      h("pre", {}, JSON.stringify(result.ok ? result.data.response : result.data, null, 2)));
  }

  for (const form of document.querySelectorAll("form.command")) UI.onSubmit(form, send);
  actionFilter.addEventListener("change", loadMessages);
  const refresh = debounce(() => { loadChargePoint(); loadTransactions(); loadMessages(); }, 250);
  live(refresh, { charge_point_id: id });
  loadChargePoint(); loadTransactions(); loadMessages();
  setInterval(() => { loadTransactions(); }, 10000); // meter values arrive without an event
})();
