// One charge point: boot data and connectors (a 2.0.1 station's EVSEs) here; its commands
// (cp_commands.js) and their history (cp_history.js), its configuration or device model
// (cp_settings.js), energy and transactions (cp_energy.js) and message log (cp_log.js) in
// their own files. Everything follows the event stream of this charge point.
"use strict";
(() => {
  const { t, api, h, badge, time, paced, live, explain } = UI;
  let pinned = null;

  const BOOT = [[t("charge_point.boot_vendor"), "vendor"], [t("charge_point.boot_model"), "model"],
    [t("charge_point.boot_serial"), "charge_point_serial"], [t("charge_point.boot_box_serial"), "charge_box_serial"],
    [t("charge_point.boot_firmware"), "firmware_version"], [t("charge_point.boot_meter"), "meter_type"],
    [t("charge_point.boot_ocpp"), "ocpp_version", (v) => v && (pinned ? t("charge_point.pinned", { version: v }) : v)],
    [t("charge_point.boot_registration"), "registration_status"], [t("charge_point.boot_last_boot"), "last_boot_at", time],
    [t("charge_point.boot_last_seen"), "last_seen", time], [t("charge_point.boot_node"), "node_id"]];

  async function loadChargePoint() {
    const result = await api("GET", CP.base);
    if (!result.ok) { document.getElementById("boot").replaceChildren(h("p", { class: "error" }, explain(result))); return; }
    const cp = result.data;
    pinned = cp.ocpp_version_pinned;
    showVersion(cp.ocpp_version || cp.ocpp_version_pinned || "1.6");
    document.getElementById("cp-online").replaceWith(Object.assign(
      badge(cp.online ? "online" : "offline", t(cp.online ? "common.online" : "common.offline")), { id: "cp-online" }));
    document.getElementById("boot").replaceChildren(...BOOT.flatMap(([label, key, fmt]) =>
      [h("dt", {}, label), h("dd", {}, (fmt ? fmt(cp[key]) : cp[key]) || t("common.none"))]));
    document.getElementById("connectors").replaceChildren(CP.version === "2.0.1" ? evseTable(cp.evses) : connectorTable(cp.connectors));
  }

  /** The commands and tables of the version the charge point speaks (its last connection's,
   *  else the pinned one). */
  function showVersion(version) {
    if (version === CP.version) return;
    CP.version = version;
    document.getElementById("cp-version").textContent = t("charge_point.version", { version });
    CP.commands.load(version);
    CP.settings.show(version);
  }

  const head = (...keys) => h("thead", {}, h("tr", {}, keys.map((key) => h("th", {}, t(key)))));

  function connectorTable(connectors) {
    if (!connectors.length) return h("p", { class: "muted" }, t("charge_point.no_status"));
    return h("table", {}, head("charge_point.col_connector", "charge_point.col_status", "charge_point.error", "charge_point.col_since"),
      h("tbody", {}, connectors.map((c) => h("tr", { dataset: { connector: c.connector_id } },
        h("td", {}, c.connector_id === 0 ? t("charge_point.connector_zero") : String(c.connector_id)),
        h("td", {}, badge(c.status)), h("td", {}, c.error_code && c.error_code !== "NoError" ? c.error_code : ""),
        h("td", {}, time(c.updated_at))))));
  }

  /** A 2.0.1 station's topology: each EVSE's connectors and their last status. */
  function evseTable(evses) {
    if (!evses.length) return h("p", { class: "muted" }, t("charge_point.no_evse"));
    return h("table", {}, head("charge_point.evse", "charge_point.col_connector", "charge_point.col_status", "charge_point.col_since"),
      h("tbody", {}, evses.flatMap((e) => e.connectors.map((c) => h("tr", { dataset: { evse: e.evse_id, connector: c.connector_id } },
        h("td", {}, String(e.evse_id)), h("td", {}, String(c.connector_id)), h("td", {}, badge(c.status)),
        h("td", {}, time(c.timestamp || c.updated_at)))))));
  }

  // each read at most once a second however busy the charge point (a burst of statuses, a
  // meter value a second), never starved by a steady stream as a debounce would be
  const refresh = paced(() => Promise.all([loadChargePoint(), CP.energy.load()]), 1000);
  const log = paced(() => CP.log.load(), 2000);
  const history = paced(() => CP.history.load(), 1000);
  const model = paced(() => CP.settings.loadModel(), 1000);
  const stream = live((event) => {
    if (event.type === "meter") return; // its own listener below, should the core list it too
    log();
    if (event.type === "command_result") history();
    else if (event.type === "device_model") model();
    else refresh();
  }, { charge_point_id: CP.id });
  stream.addEventListener("meter", (e) => { CP.energy.meter(JSON.parse(e.data)); log(); });
  let reopened = false; // the stream's first opening is the page's load; a later one, after a drop
  stream.addEventListener("open", () => {
    if (reopened) { loadChargePoint(); CP.energy.load(true); history(); log(); } // what happened meanwhile
    reopened = true;
  });

  loadChargePoint();
  CP.energy.load();
  CP.history.load();
  CP.log.load();
  setInterval(() => { CP.energy.draw(); CP.energy.renderTiles(); }, 30000); // the axis and the durations reach to now
  setInterval(() => CP.energy.load(true), 300000); // events lost on the way: the stored values
})();
