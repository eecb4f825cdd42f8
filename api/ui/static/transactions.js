// Transactions: the filtered list, page by page, and the same filters as a CSV download.
"use strict";
(() => {
  const { t, api, h, badge, time, fill, debounce, live, explain } = UI;
  const form = document.getElementById("tx-filters");
  const tbody = document.querySelector("#tx-table tbody");
  const PAGE_SIZE = 50;
  let page = 1;

  /** The form as API query parameters (dates as the start of that day, local time). */
  function params() {
    const query = new URLSearchParams();
    for (const [key, value] of new FormData(form)) {
      if (!value) continue;
      query.set(key, key === "since" || key === "until" ? new Date(value + "T00:00").toISOString() : value);
    }
    return query;
  }

  async function load() {
    const query = params();
    document.getElementById("csv").href = "/api/v1/transactions/export.csv?" + query;
    query.set("page", page);
    query.set("page_size", PAGE_SIZE);
    const result = await api("GET", "/api/v1/transactions?" + query);
    if (!result.ok) { fill(tbody, [h("tr", {}, h("td", { colspan: 8, class: "error" }, explain(result)))]); return; }
    const { items, total } = result.data;
    fill(tbody, items.map((tx) => h("tr", { dataset: { id: tx.id } },
      h("td", {}, String(tx.id)),
      h("td", {}, h("a", { href: "/ui/charge-points/" + encodeURIComponent(tx.charge_point_id) }, tx.charge_point_id)),
      h("td", {}, String(tx.connector_id)), h("td", {}, tx.id_tag), h("td", {}, time(tx.start_timestamp)),
      h("td", {}, tx.active ? badge("Charging", t("transactions.running")) : time(tx.stop_timestamp)),
      h("td", {}, tx.energy_wh ?? ""), h("td", {}, tx.stop_reason || ""))), t("transactions.no_match"));
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    document.getElementById("page-info").textContent = t("transactions.page_info", { page, pages, n: total });
    document.getElementById("prev").disabled = page <= 1;
    document.getElementById("next").disabled = page >= pages;
  }

  UI.onSubmit(form, (e) => { e.preventDefault(); page = 1; load(); });
  document.getElementById("prev").addEventListener("click", () => { page -= 1; load(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; load(); });
  live(debounce(load, 500), { types: "transaction_started,transaction_stopped" });
  load();
})();
