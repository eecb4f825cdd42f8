// Energy: the charge point's recent transactions, the running ones' energy and power as numbers,
// and a chart of one transaction from its start reading to its end (or now), all live: a
// running transaction's meter values arrive as `meter` events and are added as they come.
"use strict";

CP.energy = (() => {
  const { t, api, h, badge, time, fill } = UI;
  const tiles = document.getElementById("live-energy");
  const box = document.getElementById("chart");
  const title = document.getElementById("chart-title");
  const ENERGY = "Energy.Active.Import.Register";
  const POWER = "Power.Active.Import";
  const states = new Map(); // transaction id -> {tx, base (Wh), points: Map(s -> [kWh, kW])}
  let chartTx = null;
  let chart = null;
  let span = [0, 1]; // the chart's time axis, seconds: the transaction's start to its end or now

  const seconds = (iso) => Date.parse(iso) / 1000;
  // the time axis' tick steps (s): whole seconds at least, so no two ticks read the same
  const STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800];

  /** A transaction's readings: its start (0 kWh at its start time, so a chart has a line from
   *  the first meter value on, not a lone dot), every meter value inside it, its stop reading. */
  function state(tx) {
    const points = new Map();
    let base = tx.meter_start;
    const at = (x) => points.get(x) || points.set(x, [null, null]).get(x);
    if (base !== null && base !== undefined) at(seconds(tx.start_timestamp))[0] = 0;
    for (const mv of tx.meter_values || []) {
      const measurand = mv.measurand || ENERGY;
      if (mv.outside_tx || mv.phase || (measurand !== ENERGY && measurand !== POWER)) continue;
      const kilo = (mv.unit || "").startsWith("k");
      const value = Number(mv.value) * (kilo ? 1000 : 1); // Wh or W
      if (!Number.isFinite(value)) continue;
      if (measurand === POWER) { at(seconds(mv.timestamp))[1] = value / 1000; continue; }
      if (base === null || base === undefined) { base = value; at(seconds(tx.start_timestamp))[0] = 0; }
      at(seconds(mv.timestamp))[0] = (value - base) / 1000;
    }
    if (tx.stop_timestamp && tx.meter_stop !== null && base !== null && base !== undefined) {
      at(seconds(tx.stop_timestamp))[0] = (tx.meter_stop - base) / 1000;
    }
    return { tx, base, points };
  }

  /** The latest energy (kWh since the start) and power (kW) among a transaction's readings. */
  function latest(s) {
    let energy = null, power = null, at = null;
    for (const x of [...s.points.keys()].sort((a, b) => a - b)) {
      const [kwh, kw] = s.points.get(x);
      if (kwh !== null) energy = kwh;
      if (kw !== null) power = kw;
      at = x;
    }
    return { energy, power, at };
  }

  async function detail(id) {
    const result = await api("GET", "/api/v1/transactions/" + id);
    if (result.ok) states.set(id, state(result.data));
  }

  /** The recent transactions; the details of the running ones and the charted one when not
   *  held yet, or all again when `fresh` (a safety net for events lost while the stream was down). */
  async function load(fresh = false) {
    if (fresh === true) states.clear();
    const result = await api("GET", "/api/v1/transactions?page_size=10&charge_point_id=" + encodeURIComponent(CP.id));
    if (!result.ok) return;
    const items = result.data.items;
    CP.running = items.filter((tx) => tx.active);
    CP.emit("running", CP.running);
    if (chartTx === null && items.length) chartTx = (CP.running[0] || items[0]).id;
    // a finished transaction's final readings (its stop value) replace what was drawn live
    const stale = (id) => !states.has(id) || (states.get(id).tx.active && !items.find((tx) => tx.id === id && tx.active));
    const wanted = new Set([...CP.running.map((tx) => tx.id), ...(chartTx === null ? [] : [chartTx])]);
    await Promise.all([...wanted].filter(stale).map(detail));
    for (const id of states.keys()) if (!wanted.has(id)) states.delete(id);
    table(items);
    renderTiles();
    draw();
  }

  /** Energy so far in Wh: a running one's from its latest reading here (the list's is the
   *  store's, written every few seconds), a finished one's as stored. */
  function delivered(tx) {
    const energy = tx.active && states.has(tx.id) ? latest(states.get(tx.id)).energy : null;
    return energy === null ? tx.energy_wh ?? "" : String(Math.round(energy * 1000));
  }

  function table(items) {
    fill(document.querySelector("#transactions tbody"), items.map((tx) =>
      h("tr", { class: "clickable", dataset: { id: tx.id, sig: JSON.stringify([tx, tx.id === chartTx]) },
        onclick: () => select(tx.id) },
      h("td", {}, h("a", { href: "#chart-title" }, String(tx.id)),
        tx.station_transaction_id ? h("span", { class: "muted" }, " " + tx.station_transaction_id) : ""),
      h("td", {}, String(tx.connector_id)), h("td", {}, tx.id_tag),
      h("td", {}, time(tx.start_timestamp)), h("td", {}, tx.active ? badge("Charging", t("transactions.running")) : time(tx.stop_timestamp)),
      h("td", { class: "energy" }, delivered(tx)), h("td", {}, tx.stop_reason || ""))), t("charge_point.no_transactions"));
  }

  async function select(id) {
    chartTx = id;
    if (!states.has(id)) await detail(id);
    draw();
  }

  function renderTiles() {
    const figure = (value, unit, digits, name) =>
      h("span", { class: "figure" }, h("b", { dataset: { figure: name } }, value === null ? t("common.none") : value.toFixed(digits)), " " + unit);
    const running = CP.running.filter((tx) => states.has(tx.id));
    tiles.replaceChildren(...running.map((tx) => {
      const now = latest(states.get(tx.id));
      const minutes = Math.max(0, Math.floor((Date.now() / 1000 - seconds(tx.start_timestamp)) / 60));
      const lasted = minutes < 1 ? t("charge_point.under_a_minute") : minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
      return h("div", { class: "tile", dataset: { tx: tx.id, connector: tx.connector_id } },
        h("div", {}, h("strong", {}, t("charge_point.tile_connector", { connector: tx.connector_id })),
          h("span", { class: "muted" }, " · " + t("charge_point.tile_transaction", { id: tx.id, tag: tx.id_tag || "" }))),
        h("div", { class: "figures" }, figure(now.energy, "kWh", 2, "energy"), figure(now.power, "kW", 1, "power")),
        h("div", { class: "muted" }, t("charge_point.tile_since", { time: CP.clock(tx.start_timestamp), lasted }),
          now.at ? " · " + t("charge_point.tile_last_reading", { time: CP.clock(new Date(now.at * 1000).toISOString()) }) : ""));
    }));
    if (!running.length) tiles.replaceChildren(h("p", { class: "muted" }, t("charge_point.no_running")));
  }

  /** A meter value of a running transaction, pushed (event `meter`: its energy register in Wh,
   *  its power in W): a point on its chart, its figures; the same event twice is one point. */
  function meter(event) {
    const s = states.get(event.transaction_id);
    if (!s) { load(); return; }
    const x = seconds(event.timestamp || event.ts);
    const point = s.points.get(x) || [null, null];
    if (event.energy_wh !== null && event.energy_wh !== undefined) {
      if (s.base === null || s.base === undefined) s.base = event.energy_wh;
      point[0] = (event.energy_wh - s.base) / 1000;
    }
    if (event.power_w !== null && event.power_w !== undefined) point[1] = event.power_w / 1000;
    s.points.set(x, point);
    const cell = document.querySelector(`#transactions tr[data-id="${event.transaction_id}"] td.energy`);
    if (cell) cell.textContent = delivered(s.tx);
    renderTiles();
    if (event.transaction_id === chartTx) draw();
  }

  const pad = (n) => String(n).padStart(2, "0");
  /** An axis label: 24 h local time, with seconds on a short axis, with the day on a long one. */
  function label(x, range) {
    const d = new Date(x * 1000);
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
    if (range < 600) return `${hm}:${pad(d.getSeconds())}`;
    return range > 86400 ? `${pad(d.getDate())}.${pad(d.getMonth() + 1)}. ${hm}` : hm;
  }

  function draw() {
    const s = states.get(chartTx);
    if (!s) { title.textContent = t("charge_point.meter_values"); return; }
    const xs = [...s.points.keys()].sort((a, b) => a - b);
    const start = seconds(s.tx.start_timestamp);
    const last = xs.length ? xs[xs.length - 1] : start;
    // a running one's axis reaches to now (a minute at least, room for what comes)
    span = s.tx.stop_timestamp ? [start, Math.max(seconds(s.tx.stop_timestamp), last, start + 1)]
      : [start, Math.max(Date.now() / 1000, last, start + 60)];
    const total = latest(s).energy;
    title.textContent = t("charge_point.chart_title", { id: chartTx, n: xs.length }) +
      (total === null ? "" : `, ${total.toFixed(2)} kWh`);
    Object.assign(box.dataset, { tx: chartTx, readings: xs.length, from: new Date(span[0] * 1000).toISOString(),
      to: new Date(span[1] * 1000).toISOString() });
    if (typeof uPlot === "undefined") return;
    const data = [xs, xs.map((x) => s.points.get(x)[0]), xs.map((x) => s.points.get(x)[1])];
    if (chart && chart.tx === chartTx) { chart.setData(data); return; }
    if (chart) chart.destroy();
    chart = UI.plot({ // in the theme's colours, redrawn when it changes
      width: box.clientWidth || 600, height: 240,
      // both quantities from 0: a power axis from 7.0 to 7.4 kW would make a wobble a cliff
      scales: { x: { time: true, range: () => span }, kWh: { range: (u, min, max) => [0, Math.max(max * 1.1, 0.01)] },
        kW: { range: (u, min, max) => [0, Math.max(max * 1.15, 1)] } },
      series: [{ value: (u, v) => (v === null ? "—" : label(v, 0)) },
        { label: t("charge_point.chart_energy"), stroke: "--chart-1", width: 2, scale: "kWh", spanGaps: true, points: { size: 5 } },
        { label: t("charge_point.chart_power"), stroke: "--chart-2", width: 2, scale: "kW", spanGaps: true, points: { size: 5 } }],
      axes: [{ values: (u, splits) => splits.map((x) => label(x, span[1] - span[0])), space: 70, incrs: STEPS },
        { scale: "kWh", label: "kWh", size: 60 }, { scale: "kW", label: "kW", side: 1, size: 50, grid: { show: false } }],
    }, data, box);
    chart.tx = chartTx;
  }

  window.addEventListener("resize", UI.debounce(() => { if (chart) chart.setSize({ width: box.clientWidth || 600, height: 240 }); }, 200));
  return { load, meter, draw, renderTiles };
})();
