// Network overview: every charge point, its connection and connector statuses, live.
"use strict";
(() => {
  const { api, h, badge, debounce, live, explain } = UI;
  const grid = document.getElementById("charge-points");
  const counts = document.getElementById("counts");
  const search = document.getElementById("search");
  const statusFilter = document.getElementById("status-filter");
  const onlineFilter = document.getElementById("online-filter");
  let all = [];

  const statuses = (cp) => cp.connectors.filter((c) => c.connector_id > 0).map((c) => c.status);

  function matches(cp) {
    const q = search.value.trim().toLowerCase();
    if (q && ![cp.id, cp.vendor, cp.model, cp.charge_point_serial, cp.charge_box_serial]
      .some((v) => v && v.toLowerCase().includes(q))) return false;
    if (statusFilter.value && !statuses(cp).includes(statusFilter.value)) return false;
    if (onlineFilter.value && String(cp.online) !== onlineFilter.value) return false;
    return true;
  }

  function card(cp) {
    const connectors = cp.connectors.filter((c) => c.connector_id > 0);
    return h("a", { class: "cp" + (cp.online ? " online" : ""), href: "/ui/charge-points/" + encodeURIComponent(cp.id),
      dataset: { id: cp.id, online: String(cp.online) } },
      h("div", { class: "title" }, h("span", {}, cp.id), badge(cp.online ? "online" : "offline", cp.online ? "online" : "offline")),
      h("div", { class: "meta" }, [cp.vendor, cp.model, cp.ocpp_version && "OCPP " + cp.ocpp_version].filter(Boolean).join(" · ") || "no boot data yet"),
      h("div", { class: "pills" }, connectors.length
        ? connectors.map((c) => badge(cp.online ? c.status : "offline", `${c.connector_id} ${c.status}`))
        : h("span", { class: "muted" }, "no connectors reported")));
  }

  function render() {
    const shown = all.filter(matches);
    grid.replaceChildren(...(shown.length ? shown.map(card) : [h("p", { class: "muted" }, all.length ? "No charge point matches." : "No charge points yet.")]));
    const tally = {};
    for (const cp of all) for (const s of statuses(cp)) tally[s] = (tally[s] || 0) + 1;
    const online = all.filter((cp) => cp.online).length;
    counts.replaceChildren(badge(online ? "online" : "offline", `online ${online}/${all.length}`),
      ...Object.keys(tally).sort().map((s) => badge(s, `${s} ${tally[s]}`)));
  }

  async function load() {
    const result = await api("GET", "/api/v1/charge-points?connectors=true&page_size=1000");
    if (!result.ok) { grid.replaceChildren(h("p", { class: "error" }, explain(result))); return; }
    all = result.data.items;
    render();
  }

  for (const input of [search, statusFilter, onlineFilter]) input.addEventListener("input", render);
  live(debounce(load, 250));
  load();
})();
