// Network page, part 2: the charge point table — filtered, sorted and paged by the server, one
// page at a time — kept live by the events of its rows alone, each applied to the row it names
// (a status to its connector, a connect or disconnect to its connection), never by downloading
// the list again.
"use strict";
(() => {
  const { t, api, h, badge, ago, time, live, explain } = UI;
  const table = document.getElementById("cp-table");
  const tbody = table.querySelector("tbody");
  const form = document.getElementById("filters");
  const search = document.getElementById("search");
  const statusFilter = document.getElementById("status-filter");
  const onlineFilter = document.getElementById("online-filter");
  const pageSize = document.getElementById("page-size");
  const holder = document.getElementById("charge-points");
  let sort = "id", page = 1, total = 0, known = null; // known: the fleet's size when last read
  const rows = new Map(); // charge point id -> {cp, row} of the page shown
  const ROW_EVENTS = "connected,disconnected,boot,status";

  const connectorsOf = (cp) => cp.connectors.filter((c) => c.connector_id > 0);

  function pills(cp) {
    const connectors = connectorsOf(cp);
    return connectors.length
      ? connectors.map((c) => badge(cp.online ? c.status : "offline", `${c.connector_id} ${c.status}`))
      : [h("span", { class: "muted" }, t("network.no_connectors"))];
  }

  function row(cp) {
    const link = h("a", { class: "cp", href: "/ui/charge-points/" + encodeURIComponent(cp.id),
      dataset: { id: cp.id, online: String(cp.online) } }, cp.id);
    return h("tr", { dataset: { id: cp.id } },
      h("td", { class: "id" }, link),
      h("td", { class: "conn" }, badge(cp.online ? "online" : "offline", t(cp.online ? "common.online" : "common.offline"))),
      h("td", { class: "pills-cell" }, h("div", { class: "pills" }, pills(cp))),
      h("td", { class: "muted" }, [cp.vendor, cp.model].filter(Boolean).join(" · ") || t("network.no_boot")),
      h("td", {}, cp.ocpp_version || ""),
      h("td", { class: "age", title: time(cp.last_seen), dataset: { since: cp.last_seen || "" } }, ago(cp.last_seen)));
  }

  function query() {
    const q = new URLSearchParams({ connectors: "true", sort, page, page_size: pageSize.value });
    if (search.value.trim()) q.set("q", search.value.trim());
    if (statusFilter.value) q.set("status", statusFilter.value);
    if (onlineFilter.value) q.set("online", onlineFilter.value);
    return q;
  }

  let asked = 0;
  async function load() {
    const mine = ++asked;
    const result = await api("GET", "/api/v1/charge-points?" + query());
    if (mine !== asked) return; // a newer filter or page was asked for meanwhile
    rows.clear();
    if (!result.ok) {
      tbody.replaceChildren(h("tr", {}, h("td", { colspan: 6, class: "error" }, explain(result))));
      return;
    }
    ({ total } = result.data);
    const { items } = result.data;
    for (const cp of items) rows.set(cp.id, { cp, row: row(cp) });
    const filtered = search.value.trim() || statusFilter.value || onlineFilter.value;
    tbody.replaceChildren(...(items.length ? [...rows.values()].map((r) => r.row)
      : [h("tr", {}, h("td", { colspan: 6, class: "muted" }, t(filtered ? "network.no_match" : "network.empty")))]));
    const size = Number(pageSize.value);
    const pages = Math.max(1, Math.ceil(total / size));
    const first = total ? (page - 1) * size + 1 : 0;
    document.getElementById("page-info").textContent = t("network.page_info",
      { first: first.toLocaleString(), last: Math.min(page * size, total).toLocaleString(), total: total.toLocaleString() });
    document.getElementById("prev").disabled = page <= 1;
    document.getElementById("next").disabled = page >= pages;
    holder.dataset.loaded = String(Date.now());
    follow();
  }

  /** Follow the events of the rows shown, only theirs: with 10,000 charge points the rest of the
   * fleet's events would be most of the page's traffic for nothing it shows (the totals are read
   * every few seconds instead). */
  let source = null, followed = null;
  function follow() {
    const ids = [...rows.keys()];
    if (source && followed === ids.join("\n")) return;
    if (source) source.close();
    followed = ids.join("\n");
    // no rows: a charge point connecting (the first of a new fleet) is the one event of interest
    source = live(apply, ids.length ? { types: ROW_EVENTS, charge_point_id: ids } : { types: "connected" });
    // what changed between the read and the subscription (or while it was down: the browser
    // reconnects by itself) would be lost: the rows are read again each time it opens (the same
    // rows, so no new subscription)
    holder.dataset.following = "connecting";
    source.addEventListener("open", async () => { await load(); holder.dataset.following = "live"; });
  }

  /** One pushed event applied to its row, if the page shows it; the totals read again soon. */
  function apply(event) {
    NetworkTotals.changed();
    const shown = rows.get(event.charge_point_id);
    if (!shown) return;
    const { cp } = shown;
    cp.last_seen = event.ts;
    if (event.type === "connected") Object.assign(cp, { online: true, ocpp_version: event.ocpp_version || cp.ocpp_version });
    else if (event.type === "disconnected") cp.online = false;
    else if (event.type === "status") {
      const found = cp.connectors.find((c) => c.connector_id === event.connector_id);
      if (found) Object.assign(found, { status: event.status, error_code: event.error_code });
      else cp.connectors.push({ connector_id: event.connector_id, status: event.status, error_code: event.error_code });
      cp.connectors.sort((a, b) => a.connector_id - b.connector_id);
    } else if (event.type !== "boot") return;
    const fresh = row(cp);
    shown.row.replaceWith(fresh);
    shown.row = fresh;
    // newest seen first: what was just heard of moves to the top of the first page
    if (sort === "-last_seen" && page === 1) tbody.prepend(fresh);
  }

  function sortBy(key) {
    sort = sort === key ? "-" + key : key;
    for (const th of table.querySelectorAll("th")) th.removeAttribute("aria-sort");
    const button = table.querySelector(`button.sort[data-sort="${key}"]`);
    button.closest("th").setAttribute("aria-sort", sort.startsWith("-") ? "descending" : "ascending");
    page = 1;
    load();
  }

  let typing = null;
  form.addEventListener("submit", (e) => e.preventDefault());
  form.addEventListener("input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => { page = 1; load(); }, e.target === search ? 250 : 0);
  });
  NetworkTotals.onFilter((filter) => {
    statusFilter.value = filter.status || "";
    onlineFilter.value = filter.online || "";
    page = 1;
    load();
  });
  // a charge point added or deleted (not a row's change): the page is read again, once, for it
  NetworkTotals.onTotals((fleet) => { if (known !== null && fleet !== known) load(); known = fleet; });
  for (const button of table.querySelectorAll("button.sort")) button.addEventListener("click", () => sortBy(button.dataset.sort));
  document.getElementById("prev").addEventListener("click", () => { page -= 1; load(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; load(); });
  // ages ("12 s ago") move on without any event: their text is redrawn, nothing is fetched
  setInterval(() => {
    for (const cell of document.querySelectorAll(".age[data-since]")) cell.textContent = ago(cell.dataset.since);
  }, 5000);
  load();
  NetworkTotals.summary();
})();
