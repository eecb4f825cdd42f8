// Simulator rows: one simulated charger as a table row (a card on a phone) — its runtime, its
// transaction generator, and every connector with the actions its state allows.
"use strict";
const SimRows = (() => {
  const { t, h, badge } = UI;
  // provisioning status -> [colour of the status palette, the catalogue's words]
  const RUNTIME = { CONNECTED: ["Available", "simulator.runtime_connected"], PROVISIONING: ["Preparing", "simulator.runtime_connecting"],
    PENDING: ["Preparing", "simulator.runtime_starting"], STOPPED: ["Unavailable", "simulator.runtime_stopped"],
    PROVISIONED: ["Unavailable", "simulator.runtime_never_started"] };
  // what the link or the power can do to a whole station (POST /ocpp/sim/{identity}/{action})
  const STATION = [["simulator.drop_link", "drop-connection"], ["simulator.power_loss", "power-loss"]];

  /** What a driver, or the hardware, can do at a connector in its state: [label key, action, args].
   * A fault leaves only its clearing; otherwise start or stop, plug in or unplug, fault. */
  function connectorActions(c) {
    const at = { connector_id: c.connector_id };
    if (c.error_code !== "NoError" || c.status === "Faulted") return [["simulator.clear_fault", "clear-fault", at]];
    const charging = c.transaction_id !== null && c.transaction_id !== undefined;
    return [charging ? ["simulator.tx_stop", "stop-transaction", at] : ["simulator.tx_start", "start-transaction", at],
      c.plugged ? ["simulator.unplug", "unplug", at] : ["simulator.plug", "plug", at],
      ["simulator.fault", "fault-connector", { ...at, error_code: "GroundFailure" }]];
  }

  function connector(charger, c, ctx) {
    return h("div", { class: "conn", dataset: { connector: c.connector_id, status: c.status } },
      badge(c.status, `${c.connector_id} ${c.status}`),
      h("div", { class: "actions" }, connectorActions(c).map(([label, action, args]) =>
        h("button", { type: "button", "data-act": action,
          "aria-label": t("simulator.connector_action", { action: t(label), connector: c.connector_id, identity: charger.identity }),
          onclick: (e) => ctx.drive(e.currentTarget, charger, action, args) }, t(label)))));
  }

  /** The shown state of a charger: what its row's signature and its buttons are made of (a
   * stopped station's last snapshot is not live: it shows no connectors). */
  function state(charger) {
    const live = charger.runtime && charger.runtime.running ? charger.runtime : null;
    return { connectors: live ? live.connectors : [], atg: live ? live.atg : charger.atg,
      running: charger.desired_state === "running", live };
  }

  /** The row of `charger` (with `status` and `runtime` from the list); `ctx` holds what its
   * controls do: select, runtime, drive, atg, log, and whether it is selected. */
  function row(charger, ctx) {
    const { connectors, atg, running, live } = state(charger);
    const sig = JSON.stringify([charger.identity, charger.template, charger.ocpp_version, charger.status, running, atg,
      ctx.selected, connectors.map((c) => [c.connector_id, c.status, c.error_code, c.plugged, c.transaction_id])]);
    const [colour, words] = RUNTIME[charger.status] || ["unknown", null];
    const runtime = (label, op) => h("button", { type: "button", "data-runtime": op,
      onclick: (e) => ctx.runtime(e.currentTarget, charger, op) }, t(label));
    return h("tr", { dataset: { identity: charger.identity, status: charger.status, atg: String(atg), sig } },
      h("td", { class: "sel" }, h("input", { type: "checkbox", "aria-label": t("simulator.select", { identity: charger.identity }), checked: ctx.selected,
        onchange: (e) => ctx.select(charger, e.target.checked) })),
      h("td", { class: "name" }, h("a", { href: "/ui/charge-points/" + encodeURIComponent(charger.identity) }, charger.identity),
        h("div", { class: "muted small" }, `${charger.template} · ${charger.ocpp_version.replace("OCPP", "OCPP ")}`)),
      h("td", { class: "runtime", "data-label": t("simulator.runtime") }, h("div", { class: "actions" },
        badge(colour, words ? t(words) : charger.status || t("common.unknown")),
        running ? [runtime("simulator.stop", "stop-charger"), runtime("simulator.restart", "restart-charger")]
          : runtime("simulator.start", "start-charger"),
        h("button", { type: "button", "data-log": "", onclick: () => ctx.log(charger) }, t("simulator.log")))),
      h("td", { "data-label": t("simulator.generator") }, h("button", { type: "button", class: "switch", "data-atg": "",
        "aria-pressed": String(atg), title: t("simulator.atg_title"),
        onclick: (e) => ctx.atg(e.currentTarget, [charger.id], !atg) }, t(atg ? "simulator.atg_on" : "simulator.atg_off"))),
      h("td", { "data-label": t("simulator.connectors") }, connectors.length
        ? h("div", { class: "conns" }, connectors.map((c) => connector(charger, c, ctx)))
        : h("span", { class: "muted" }, t(running ? "simulator.connecting" : "simulator.not_running"))),
      h("td", { "data-label": t("simulator.station") }, live ? h("div", { class: "actions" }, STATION.map(([label, action]) =>
        h("button", { type: "button", "data-station": action, onclick: (e) => ctx.drive(e.currentTarget, charger, action, {}) },
          t(label)))) : ""));
  }

  return { row };
})();
