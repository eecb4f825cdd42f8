// Network page, part 1: the totals cards and the problems list. Both come from small reads
// (/api/v1/network/summary and /problems): the totals every few seconds, and soon after a shown
// row changes; the problems when their counts change. Never the whole fleet.
"use strict";
const NetworkTotals = (() => {
  const { t, api, h, badge, ago, time, explain, paced } = UI;
  const stats = document.getElementById("counts");
  const at = document.getElementById("summary-at");
  const list = document.getElementById("problems");
  const kinds = document.getElementById("problem-kinds");
  const info = document.getElementById("problems-info");
  const PAGE = 10;
  const SUMMARY_EVERY_MS = 5000;
  const KINDS = { "": t("network.kind_all"), faulted: t("network.kind_faulted"), offline: t("network.kind_offline"),
    boot_rejected: t("network.kind_boot_rejected"), stuck_transaction: t("network.kind_stuck_transaction") };
  let kind = "", page = 1, lastCounts = "", onFilter = () => {}, onTotals = () => {};

  /** Local midnight, so "today" is the operator's day, not UTC's. */
  function midnight() {
    const d = new Date();
    d.setHours(0, 0, 0, 0);
    return d.toISOString();
  }

  function stat(key, label, value, filter) {
    const body = [h("span", { class: "stat-label" }, label), " ", h("strong", { class: "stat-value" }, value)];
    return filter
      ? h("button", { type: "button", class: "stat", dataset: { stat: key }, title: t("network.stat_filter_title"),
        onclick: () => onFilter(filter) }, ...body)
      : h("div", { class: "stat", dataset: { stat: key } }, ...body);
  }

  function renderStats(s) {
    const cps = s.charge_points;
    stats.replaceChildren(
      stat("online", t("network.stat_online"), `${cps.online}/${cps.total}`, { online: "true" }),
      stat("charging", t("network.stat_charging"), String(s.charging), { status: "Charging", online: "true" }),
      stat("power", t("network.stat_power"), s.power_kw.toLocaleString(undefined, { maximumFractionDigits: 1 })),
      stat("energy", t("network.stat_energy"), s.energy_kwh.toLocaleString(undefined, { maximumFractionDigits: 1 })),
      stat("faulted", t("network.stat_faulted"), String(s.faulted), { status: "Faulted", online: "true" }),
      stat("offline", t("network.stat_offline"), String(cps.offline), { online: "false" }));
    stats.dataset.sessions = s.sessions_open;
    at.textContent = t("network.updated", { time: time(new Date().toISOString()) });
    const total = Object.values(s.problems).reduce((a, b) => a + b, 0);
    document.getElementById("problems-total").textContent = `(${total})`;
    kinds.replaceChildren(...Object.entries(KINDS).map(([key, label]) => h("button", {
      type: "button", role: "tab", "aria-selected": String(key === kind), dataset: { kind: key },
      onclick: () => { kind = key; page = 1; renderKinds(); problems(); } },
    `${label} ${key ? s.problems[key] : total}`)));
  }

  function renderKinds() {
    for (const tab of kinds.children) tab.setAttribute("aria-selected", String(tab.dataset.kind === kind));
  }

  function problem(p) {
    const session = p.detail ? "network.problem_session_detail" : "network.problem_session";
    const what = [p.connector_id && t("network.problem_connector", { connector: p.connector_id }),
      p.kind === "stuck_transaction" ? t(session, { id: p.transaction_id, detail: p.detail }) : p.detail];
    return h("li", { dataset: { kind: p.kind, id: p.charge_point_id } },
      badge(p.kind === "faulted" ? "Faulted" : p.kind === "offline" ? "offline" : "Rejected", KINDS[p.kind]), " ",
      h("a", { href: "/ui/charge-points/" + encodeURIComponent(p.charge_point_id) }, p.charge_point_id),
      h("span", { class: "muted" }, what.filter(Boolean).map((part) => " · " + part).join("")),
      h("span", { class: "age muted", title: time(p.since), dataset: { since: p.since || "" } }, ago(p.since)));
  }

  async function problems() {
    const query = new URLSearchParams({ page, page_size: PAGE });
    if (kind) query.set("kind", kind);
    const result = await api("GET", "/api/v1/network/problems?" + query);
    if (!result.ok) { list.replaceChildren(h("li", { class: "error" }, explain(result))); return; }
    const { items, total } = result.data;
    list.replaceChildren(...(items.length ? items.map(problem) : [h("li", { class: "muted" }, t("network.no_problems"))]));
    const pages = Math.max(1, Math.ceil(total / PAGE));
    info.textContent = `${page}/${pages}`;
    document.getElementById("problems-prev").disabled = page <= 1;
    document.getElementById("problems-next").disabled = page >= pages;
  }

  async function summary() {
    const result = await api("GET", "/api/v1/network/summary?since=" + encodeURIComponent(midnight()));
    if (!result.ok) { stats.replaceChildren(h("p", { class: "error" }, explain(result))); return; }
    renderStats(result.data);
    onTotals(result.data.charge_points.total);
    const counts = JSON.stringify(result.data.problems);
    if (counts !== lastCounts) { lastCounts = counts; await problems(); }
  }

  document.getElementById("problems-prev").addEventListener("click", () => { page -= 1; problems(); });
  document.getElementById("problems-next").addEventListener("click", () => { page += 1; problems(); });
  // problems age while nothing happens: their list is read again each minute
  setInterval(problems, 60_000);
  // the totals of the whole fleet: read every few seconds (a few hundred bytes), not derived from
  // its events (the page follows only its rows' events); sooner, at most every 3 s, when a row
  // shown changes
  const ask = paced(summary, 3000, SUMMARY_EVERY_MS);
  return { summary: () => ask(true), changed: () => ask(), onFilter: (fn) => { onFilter = fn; },
    onTotals: (fn) => { onTotals = fn; } };
})();
