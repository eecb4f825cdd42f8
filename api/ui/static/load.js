// Load management: a load group's live allocation per member, its total against its limit,
// and its draw over the last hours; a form to create one. Everything through /api/v1/load-groups.
"use strict";
(() => {
  const { t, api, h, badge, fill, debounce, live, explain, toast, onSubmit, values } = UI;
  const MEMBERS = { charge_point: t("load.member_charge_point"), connector: t("load.member_connector"),
    locker_bay: t("load.member_locker_bay") };
  const select = document.getElementById("group-select");
  const tbody = document.querySelector("#members tbody");
  let groups = [];
  let chart = null;

  const kw = (w) => (w === null || w === undefined ? "" : (w / 1000).toFixed(w >= 10000 ? 1 : 2) + " kW");
  const inUnit = (group, w) => (group.unit === "A" ? (w / (group.phases * 230)).toFixed(1) + " A" : Math.round(w) + " W");

  async function loadGroups() {
    const result = await api("GET", "/api/v1/load-groups");
    if (!result.ok) { toast(explain(result), true); return; }
    groups = result.data;
    document.getElementById("empty").hidden = groups.length > 0;
    const chosen = select.value || (groups[0] && String(groups[0].id)) || "";
    select.replaceChildren(...groups.map((g) => h("option", { value: String(g.id) }, g.name)));
    select.value = chosen;
    show();
  }

  function show() {
    const group = groups.find((g) => String(g.id) === select.value);
    document.getElementById("group-card").hidden = !group;
    document.getElementById("chart-card").hidden = !group;
    if (!group) return;
    const a = group.allocations;
    document.getElementById("group-title").textContent = group.name;
    const windows = group.windows.map((w) => `${w.from}–${w.to}: ${w.limit} ${group.unit}`).join(", ");
    const limit = group.unit === "A" ? t("load.facts_phases", { limit: group.limit, unit: group.unit, n: group.phases })
      : `${group.limit} ${group.unit}`;
    document.getElementById("group-facts").textContent =
      t("load.facts", { limit, min: group.min_per_session, unit: group.unit, policy: group.policy }) +
      (windows ? ", " + t("load.facts_windows", { windows, timezone: group.timezone }) : "");
    const limitW = a.limit_w || 0;
    document.getElementById("allocated-bar").style.width = limitW ? Math.min(100, 100 * a.allocated_w / limitW) + "%" : "0";
    document.getElementById("draw-bar").style.width = limitW ? Math.min(100, 100 * a.draw_w / limitW) + "%" : "0";
    document.getElementById("group-total").textContent =
      t("load.total", { draw: kw(a.draw_w), allocated: kw(a.allocated_w), limit: kw(a.limit_w) }) +
      (a.waiting.length ? " · " + t("load.waiting_list", { n: a.waiting.length, members: a.waiting.join(", ") }) : "");
    const rows = [];
    for (const m of group.members) {
      const who = m.connector_id ? `${m.charge_point_id} / ${m.connector_id}` : m.charge_point_id;
      const kind = MEMBERS[m.kind] || m.kind;
      const head = [h("td", {}, h("a", { href: "/ui/charge-points/" + encodeURIComponent(m.charge_point_id) }, who)),
        h("td", {}, m.controlled ? kind : t("load.uncontrolled", { kind })),
        h("td", {}, `${m.rating} ${group.unit}`), h("td", {}, m.failsafe_w === null ? "" : inUnit(group, m.failsafe_w))];
      if (!m.sessions.length) { rows.push(h("tr", {}, ...head, h("td", { colspan: 4, class: "muted" }, t("load.no_session")))); continue; }
      for (const s of m.sessions) {
        rows.push(h("tr", {}, ...head,
          h("td", {}, t("load.session", { id: s.transaction_id, connector: s.connector_id })),
          h("td", {}, s.state === "waiting" ? badge("SuspendedEVSE", t("load.waiting")) : badge("Charging", t("load.charging"))),
          h("td", {}, s.limit_w === null ? "" : inUnit(group, s.limit_w)), h("td", {}, kw(s.draw_w))));
      }
    }
    fill(tbody, rows, t("load.no_members"));
    loadChart(group);
  }

  async function loadChart(group) {
    const hours = Number(document.getElementById("hours").value);
    const result = await api("GET", `/api/v1/load-groups/${group.id}/history?hours=${hours}`);
    const box = document.getElementById("chart");
    if (!result.ok || typeof uPlot === "undefined" || !result.data.length) {
      box.replaceChildren(h("p", { class: "muted" }, result.ok ? t("load.no_samples") : explain(result)));
      chart = null;
      return;
    }
    // the samples, then the group as it is now (samples come every 30 s): a line from the start
    const samples = [...result.data, { at: new Date().toISOString(), limit_w: group.allocations.limit_w || 0,
      allocated_w: group.allocations.allocated_w || 0, draw_w: group.allocations.draw_w || 0 }];
    const xs = samples.map((s) => Date.parse(s.at) / 1000);
    const data = [xs, ...["limit_w", "allocated_w", "draw_w"].map((k) => samples.map((s) => s[k] / 1000))];
    const end = Date.now() / 1000;
    const range = [end - hours * 3600, end];  // the window asked for, however few samples there are
    if (chart && chart.group === group.id) { chart.setData(data); chart.setScale("x", { min: range[0], max: range[1] }); return; }
    box.replaceChildren();
    chart = UI.plot({ // in the theme's colours, redrawn when it changes
      width: box.clientWidth || 600, height: 240,
      scales: { x: { time: true, range: () => range } },
      series: [{}, { label: t("load.chart_limit"), stroke: "--chart-3", width: 2, dash: [6, 4] },
        { label: t("load.chart_allocated"), stroke: "--chart-1", width: 2 }, { label: t("load.chart_drawn"), stroke: "--chart-2", width: 2 }],
      axes: [{}, { label: "kW", size: 60 }],
    }, data, box);
    chart.group = group.id;
  }

  onSubmit(document.getElementById("create"), async (e) => {
    e.preventDefault();
    const form = values(e.target);
    const members = String(form.members || "").split(/[\s,]+/).filter(Boolean).map((id) => {
      const member = { kind: form.kind, charge_point_id: id };
      if (form.rating) member.rating = form.rating;
      return member;
    });
    const body = { name: form.name, limit: form.limit, unit: form.unit, phases: Number(form.phases), members };
    const result = await api("POST", "/api/v1/load-groups", body);
    if (!result.ok) { toast(explain(result), true); return; }
    toast(t("load.created", { name: result.data.name }));
    e.target.reset();
    select.value = String(result.data.id);
    loadGroups();
  });
  select.addEventListener("change", show);
  document.getElementById("hours").addEventListener("change", () => { chart = null; show(); });
  live(debounce(loadGroups, 500), { types: "load_allocation,load_limit" });
  loadGroups();
})();
