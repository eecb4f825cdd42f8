// Lockers: every bank as a grid of bays (door, item, charging, power), their actions, the audit log.
// Opening a door (one, or all of a bank) releases a real lock: it is asked first (UI.confirm).
"use strict";
(() => {
  const { t, api, h, badge, time, fill, debounce, live, act, explain, confirm, toast } = UI;
  const banksBox = document.getElementById("banks");
  const idTag = document.getElementById("id-tag");
  const reload = debounce(load, 100);

  async function open(button, locker) {
    const question = t("lockers.confirm_open", { bay: locker.bay, identity: locker.identity, bank: locker.bank });
    if (await confirm(question, { action: t("lockers.open_door"), danger: true })) {
      await act(button, "POST", `/lockers/${locker.id}/open`, undefined, reload);
    }
  }

  /** Open every door of a bank, one after the other (the server's order): the outcome in one line. */
  async function openAll(button, bank, lockers) {
    const question = t("lockers.confirm_open_all", { n: lockers.length, bank });
    if (!await confirm(question, { action: t("lockers.open_all"), danger: true })) return;
    button.disabled = true;
    const result = await api("POST", `/lockers/open-all?bankId=${lockers[0].bankId}`); // 207: some did not
    button.disabled = false;
    if (result.ok) toast(t("lockers.opened_all", { bank, ...result.data, skipped: result.data.skipped.length }), result.status !== 200);
    else toast(explain(result), true);
    reload();
  }

  // the bridge's words for a bay's parts, shown in the catalogue's (an unknown one as it came)
  const WORDS = {
    door: { open: "lockers.door_open", closed: "lockers.door_closed" },
    item: { occupied: "lockers.item_occupied", empty: "lockers.item_empty" },
    charging: { off: "lockers.outlet_off", charging: "lockers.outlet_charging", idle: "lockers.outlet_idle",
      fault: "lockers.outlet_fault" },
  };
  const said = (part, value) => (value == null ? t("common.none") : WORDS[part][value] ? t(WORDS[part][value]) : value);

  function bay(locker) {
    const s = locker.state || {};
    const status = s.status || "unknown";
    const cabin = "/api/locker/cabins/" + encodeURIComponent(locker.identity);
    const doorOpen = s.door === "open";
    const none = t("common.none");
    return h("article", { class: `bay st-${status}` + (locker.outOfService ? " oos" : ""),
      dataset: { identity: locker.identity, door: s.door || "unknown", status } },
      h("div", { class: "head" }, h("span", {}, t("lockers.bay", { bay: locker.bay })), badge(status)),
      h("div", { class: "muted" }, locker.identity),
      h("dl", {},
        h("dt", {}, t("lockers.door")), h("dd", { class: doorOpen ? "door door-open" : "door" }, said("door", s.door)),
        h("dt", {}, t("lockers.item")), h("dd", {}, said("item", s.item)),
        h("dt", {}, t("lockers.charging")), h("dd", {}, said("charging", s.charging)),
        h("dt", {}, t("lockers.power")), h("dd", {}, s.powerW != null ? t("lockers.watts", { w: s.powerW }) : none),
        locker.outOfService && [h("dt", {}, t("lockers.service")), h("dd", {}, t("lockers.out_of_service"))]),
      h("div", { class: "actions" },
        h("button", { type: "button", "data-act": "open", onclick: (e) => open(e.currentTarget, locker) }, t("lockers.open")),
        s.charging === "charging" || s.chargingTransactionId
          ? h("button", { type: "button", "data-act": "stop", onclick: (e) => act(e.currentTarget, "POST", `${cabin}/stop-charging`, undefined, reload) }, t("lockers.stop"))
          : h("button", { type: "button", "data-act": "start", onclick: (e) => act(e.currentTarget, "POST", `${cabin}/start-charging`, { idTag: idTag.value }, reload) }, t("lockers.charge")),
        h("button", { type: "button", "data-act": "service", onclick: (e) => act(e.currentTarget, "PATCH", `/lockers/${locker.id}`, { outOfService: !locker.outOfService }, reload) },
          t(locker.outOfService ? "lockers.set_in_service" : "lockers.set_out_of_service"))));
  }

  const bank = (name, lockers) => h("section", { class: "bank card", dataset: { bank: name } },
    h("div", { class: "card-head" },
      h("h2", {}, name, " ", h("span", { class: "muted" }, t("lockers.bays", { n: lockers.length }))),
      h("button", { type: "button", class: "danger", "data-act": "open-all", onclick: (e) => openAll(e.currentTarget, name, lockers) },
        t("lockers.open_all"))),
    h("div", { class: "bays" }, lockers.sort((x, y) => x.bay - y.bay).map(bay)));

  async function load() {
    const result = await api("GET", "/lockers?pageSize=1000");
    if (!result.ok) { banksBox.replaceChildren(h("p", { class: "error" }, explain(result))); return; }
    const banks = new Map();
    for (const locker of result.data.items) { // by id: two banks may share a name
      if (!banks.has(locker.bankId)) banks.set(locker.bankId, []);
      banks.get(locker.bankId).push(locker);
    }
    banksBox.replaceChildren(...(banks.size ? [...banks.values()].map((lockers) => bank(lockers[0].bank, lockers))
      : [h("p", { class: "muted" }, t("lockers.none"))]));
    loadAudit();
  }

  async function loadAudit() {
    const tbody = document.querySelector("#audit tbody");
    const result = await api("GET", "/api/logs?pageSize=30");
    if (!result.ok) { fill(tbody, [h("tr", {}, h("td", { colspan: 5, class: "muted" }, explain(result)))]); return; }
    fill(tbody, result.data.items.map((e) => h("tr", {},
      h("td", {}, time(e.at)), h("td", {}, e.actor), h("td", {}, e.action), h("td", {}, e.lockerId ?? ""),
      h("td", {}, h("code", {}, e.details ? JSON.stringify(e.details) : "")))), t("lockers.no_audit"));
  }

  if (document.body.dataset.role !== "kiosk") live(debounce(load, 300)); // the stream is staff-only
  setInterval(load, 5000); // door and power readings change without an OCPP event
  load();
})();
