// Lockers: every bank as a grid of bays (door, item, charging, power), their actions, the audit log.
"use strict";
(() => {
  const { api, h, badge, time, fill, debounce, live, act, explain } = UI;
  const banksBox = document.getElementById("banks");
  const idTag = document.getElementById("id-tag");

  function bay(locker) {
    const s = locker.state || {};
    const status = s.status || "unknown";
    const cabin = "/api/locker/cabins/" + encodeURIComponent(locker.identity);
    const reload = debounce(load, 100);
    const doorOpen = s.door === "open";
    return h("article", { class: `bay st-${status}` + (locker.outOfService ? " oos" : ""),
      dataset: { identity: locker.identity, door: s.door || "unknown", status } },
      h("div", { class: "head" }, h("span", {}, `Bay ${locker.bay}`), badge(status)),
      h("div", { class: "muted" }, locker.identity),
      h("dl", {},
        h("dt", {}, "Door"), h("dd", { class: doorOpen ? "door door-open" : "door" }, s.door || "—"),
        h("dt", {}, "Item"), h("dd", {}, s.item || "—"),
        h("dt", {}, "Charging"), h("dd", {}, s.charging || "—"),
        h("dt", {}, "Power"), h("dd", {}, s.powerW != null ? `${s.powerW} W` : "—"),
        locker.outOfService && [h("dt", {}, "Service"), h("dd", {}, "out of service")]),
      h("div", { class: "actions" },
        h("button", { type: "button", "data-act": "open", onclick: (e) => act(e.currentTarget, "POST", `/lockers/${locker.id}/open`, undefined, reload) }, "Open"),
        s.charging === "charging" || s.chargingTransactionId
          ? h("button", { type: "button", "data-act": "stop", onclick: (e) => act(e.currentTarget, "POST", `${cabin}/stop-charging`, undefined, reload) }, "Stop")
          : h("button", { type: "button", "data-act": "start", onclick: (e) => act(e.currentTarget, "POST", `${cabin}/start-charging`, { idTag: idTag.value }, reload) }, "Charge"),
        h("button", { type: "button", "data-act": "service", onclick: (e) => act(e.currentTarget, "PATCH", `/lockers/${locker.id}`, { outOfService: !locker.outOfService }, reload) },
          locker.outOfService ? "In service" : "Out of service")));
  }

  async function load() {
    const result = await api("GET", "/lockers?pageSize=1000");
    if (!result.ok) { banksBox.replaceChildren(h("p", { class: "error" }, explain(result))); return; }
    const banks = new Map();
    for (const locker of result.data.items) {
      if (!banks.has(locker.bank)) banks.set(locker.bank, []);
      banks.get(locker.bank).push(locker);
    }
    banksBox.replaceChildren(...(banks.size ? [...banks].map(([name, lockers]) => h("section", { class: "bank card" },
      h("h2", {}, name, " ", h("span", { class: "muted" }, `${lockers.length} bays`)),
      h("div", { class: "bays" }, lockers.sort((a, b) => a.bay - b.bay).map(bay))))
      : [h("p", { class: "muted" }, "No lockers: configure the locker bridge (CHARGEBAY_BRIDGE_CONFIG) or run the demo.")]));
    loadAudit();
  }

  async function loadAudit() {
    const tbody = document.querySelector("#audit tbody");
    const result = await api("GET", "/api/logs?pageSize=30");
    if (!result.ok) { fill(tbody, [h("tr", {}, h("td", { colspan: 5, class: "muted" }, explain(result)))]); return; }
    fill(tbody, result.data.items.map((e) => h("tr", {},
      h("td", {}, time(e.at)), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.lockerId ?? ""),
      h("td", {}, h("code", {}, e.details ? JSON.stringify(e.details) : "")))), "No audit entries yet.");
  }

  if (document.body.dataset.role !== "kiosk") live(debounce(load, 300)); // the stream is staff-only
  setInterval(load, 5000); // door and power readings change without an OCPP event
  load();
})();
