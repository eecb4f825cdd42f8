// Simulator: the REST-managed simulated chargers a page at a time, found by identity and state,
// each with its runtime, generator and connectors (rows: sim_rows.js; the create form:
// sim_create.js). One list request per refresh (GET /ocpp/chargers?runtime=true carries every
// shown charger's runtime), asked when the event stream says something changed, at most every
// MIN_GAP, and every IDLE when nothing does: never a request per charger (54 chargers had cost
// the page 432 requests in 12 s).
"use strict";
(() => {
  const { t, api, h, fill, debounce, live, act, explain, time, toast } = UI;
  const MIN_GAP = 2000;
  const IDLE = 5000;
  const tbody = document.querySelector("#chargers tbody");
  const filters = document.getElementById("sim-filters");
  const selected = new Set();
  let shown = [];
  let page = 1;
  let logCharger = null;

  function query() {
    const data = UI.values(filters);
    const [kind, value] = (data.state || ":").split(":");
    const q = new URLSearchParams({ runtime: "true", page, page_size: data.page_size || 25 });
    if (data.q) q.set("q", data.q);
    if (kind === "status") q.set("status", value);
    if (kind === "connector") q.set("connector_status", value);
    return q;
  }

  /** The one list request: every shown charger with its runtime. */
  async function load() {
    history.replaceState(null, "", "?" + new URLSearchParams([...new FormData(filters), ["page", page]]));
    const result = await api("GET", "/ocpp/chargers?" + query());
    if (result.ok) {
      const { items, total, page_size: size } = result.data;
      const pages = Math.max(1, Math.ceil(total / size));
      if (page > pages) { page = pages; refresh(true); }  // the page emptied: its last one, next
      shown = items;
      render();
      follow();
      document.getElementById("page-info").textContent = t("simulator.page_info", { page, pages, n: total });
      document.getElementById("prev").disabled = page <= 1;
      document.getElementById("next").disabled = page >= pages;
    } else {
      fill(tbody, [h("tr", {}, h("td", { colspan: 7, class: "error" }, explain(result)))]);
    }
    if (logCharger) await loadLog();
  }
  // asked on every event, by the controls at once (urgent), by itself after IDLE of quiet
  const refresh = UI.paced(load, MIN_GAP, IDLE);
  const ROW_EVENTS = "connected,disconnected,boot,status,transaction_started,transaction_stopped";

  /** Follow the events of the chargers shown, only theirs (a 10,000-station run elsewhere must
   *  not make this page read its list every 2 s); none shown: a station connecting. */
  let source = null, followed = null;
  function follow() {
    const ids = shown.map((c) => c.identity);
    if (source && followed === ids.join("\n")) return;
    if (source) source.close();
    followed = ids.join("\n");
    source = live(() => refresh(), ids.length ? { types: ROW_EVENTS, charge_point_id: ids } : { types: "connected" });
  }

  // -- rows and what their controls do -------------------------------------------------------------
  const ctx = {
    select(charger, on) { on ? selected.add(charger.id) : selected.delete(charger.id); render(); },
    runtime: (button, charger, op) => act(button, "POST", `/ocpp/chargers/${charger.id}/${op}`, undefined, () => refresh(true)),
    atg: (button, ids, enabled) => act(button, "POST", "/ocpp/chargers/atg", { ids, enabled }, () => refresh(true)),
    log(charger) { logCharger = charger; loadLog(); },
    async drive(button, charger, action, args) {
      const body = action === "start-transaction" ? { ...args, id_tag: document.getElementById("sim-tag").value || "SIM-TAG-1" } : args;
      await act(button, "POST", `/ocpp/sim/${encodeURIComponent(charger.identity)}/${action}`, body, (result) => {
        if (!result.ok) return;
        const outcome = result.data.result || {};
        if (outcome.status && outcome.status !== "Accepted") toast(t("simulator.not_started", { status: outcome.status }), true);
        if (outcome.stopped === false) toast(t("simulator.nothing_to_stop"), true);
        // the answer carries the station as it is now: shown at once, the list follows
        charger.runtime = { ...charger.runtime, ...result.data.station };
        render();
        refresh();
      });
    },
  };

  function render() {
    fill(tbody, shown.map((c) => SimRows.row(c, { ...ctx, selected: selected.has(c.id) })),
      t(filters.q.value || filters.state.value ? "simulator.no_match" : "simulator.empty"));
    document.getElementById("selected-count").textContent = t("simulator.selected", { n: selected.size });
    const box = document.getElementById("select-all");
    box.checked = shown.length > 0 && shown.every((c) => selected.has(c.id));
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

  // -- filters, pages, the toolbar -------------------------------------------------------------------
  const params = new URLSearchParams(location.search);
  for (const name of ["q", "state", "page_size"]) if (params.get(name)) filters[name].value = params.get(name);
  page = Math.max(1, Number(params.get("page")) || 1);
  const again = () => { page = 1; refresh(true); };
  filters.addEventListener("submit", (e) => { e.preventDefault(); again(); });
  filters.q.addEventListener("input", debounce(again, 250));
  filters.state.addEventListener("change", again);
  filters.page_size.addEventListener("change", again);
  document.getElementById("prev").addEventListener("click", () => { page -= 1; refresh(true); });
  document.getElementById("next").addEventListener("click", () => { page += 1; refresh(true); });
  document.getElementById("select-all").addEventListener("change", (e) => {
    for (const c of shown) e.target.checked ? selected.add(c.id) : selected.delete(c.id);
    render();
  });
  for (const button of document.querySelectorAll("[data-bulk]")) {
    button.addEventListener("click", async () => {
      if (!selected.size) { toast(t("simulator.select_first"), true); return; }
      const result = await act(button, "POST", `/ocpp/chargers/bulk/${button.dataset.bulk}`, { ids: [...selected] }, () => refresh(true));
      if (result.ok) toast(t("simulator.bulk_done", { done: result.data.results.filter((r) => r.ok).length, n: selected.size }));
    });
  }
  for (const button of document.querySelectorAll("[data-atg-all]")) {
    button.addEventListener("click", () => {
      if (!shown.length) { toast(t("simulator.none_shown"), true); return; }
      ctx.atg(button, shown.map((c) => c.id), button.dataset.atgAll === "true");
    });
  }
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  SimCreate.init(() => refresh(true));
  refresh(true);
})();
