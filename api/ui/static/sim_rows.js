// Simulator rows: one simulated charger as a table row (a card on a phone) — its runtime, its
// transaction generator, and every connector with the actions its state allows.
"use strict";
const SimRows = (() => {
  const { h, badge } = UI;
  // provisioning status -> [colour of the status palette, words]
  const RUNTIME = { CONNECTED: ["Available", "connected"], PROVISIONING: ["Preparing", "connecting"],
    PENDING: ["Preparing", "starting"], STOPPED: ["Unavailable", "stopped"], PROVISIONED: ["Unavailable", "never started"] };
  // what the link or the power can do to a whole station (POST /ocpp/sim/{identity}/{action})
  const STATION = [["Drop link", "drop-connection"], ["Power loss", "power-loss"]];

  /** What a driver, or the hardware, can do at a connector in its state: [label, action, args].
   * A fault leaves only its clearing; otherwise start or stop, plug in or unplug, fault. */
  function connectorActions(c) {
    const at = { connector_id: c.connector_id };
    if (c.error_code !== "NoError" || c.status === "Faulted") return [["Clear fault", "clear-fault", at]];
    const charging = c.transaction_id !== null && c.transaction_id !== undefined;
    return [charging ? ["Stop", "stop-transaction", at] : ["Start", "start-transaction", at],
      c.plugged ? ["Unplug", "unplug", at] : ["Plug in", "plug", at],
      ["Fault", "fault-connector", { ...at, error_code: "GroundFailure" }]];
  }

  function connector(charger, c, ctx) {
    return h("div", { class: "conn", dataset: { connector: c.connector_id, status: c.status } },
      badge(c.status, `${c.connector_id} ${c.status}`),
      h("div", { class: "actions" }, connectorActions(c).map(([label, action, args]) =>
        h("button", { type: "button", "data-act": action, "aria-label": `${label} at connector ${c.connector_id} of ${charger.identity}`,
          onclick: (e) => ctx.drive(e.currentTarget, charger, action, args) }, label))));
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
    const [colour, words] = RUNTIME[charger.status] || ["unknown", charger.status || "unknown"];
    const runtime = (label, op) => h("button", { type: "button", "data-runtime": op,
      onclick: (e) => ctx.runtime(e.currentTarget, charger, op) }, label);
    return h("tr", { dataset: { identity: charger.identity, status: charger.status, atg: String(atg), sig } },
      h("td", { class: "sel" }, h("input", { type: "checkbox", "aria-label": "Select " + charger.identity, checked: ctx.selected,
        onchange: (e) => ctx.select(charger, e.target.checked) })),
      h("td", { class: "name" }, h("a", { href: "/ui/charge-points/" + encodeURIComponent(charger.identity) }, charger.identity),
        h("div", { class: "muted small" }, `${charger.template} · ${charger.ocpp_version.replace("OCPP", "OCPP ")}`)),
      h("td", { class: "runtime", "data-label": "Runtime" }, h("div", { class: "actions" }, badge(colour, words),
        running ? [runtime("Stop", "stop-charger"), runtime("Restart", "restart-charger")] : runtime("Start", "start-charger"),
        h("button", { type: "button", "data-log": "", onclick: () => ctx.log(charger) }, "Log"))),
      h("td", { "data-label": "Generator" }, h("button", { type: "button", class: "switch", "data-atg": "", "aria-pressed": String(atg),
        title: "Automatic transaction generator: simulated drivers plug in, charge and leave",
        onclick: (e) => ctx.atg(e.currentTarget, [charger.id], !atg) }, atg ? "ATG on" : "ATG off")),
      h("td", { "data-label": "Connectors" }, connectors.length ? h("div", { class: "conns" }, connectors.map((c) => connector(charger, c, ctx)))
        : h("span", { class: "muted" }, running ? "connecting…" : "not running")),
      h("td", { "data-label": "Station" }, live ? h("div", { class: "actions" }, STATION.map(([label, action]) =>
        h("button", { type: "button", "data-station": action, onclick: (e) => ctx.drive(e.currentTarget, charger, action, {}) }, label))) : ""));
  }

  return { row };
})();
