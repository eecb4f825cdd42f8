// chargebay dashboard core: REST calls with the session cookie, DOM helpers, the live event stream.
"use strict";

const UI = (() => {
  // Every change carries this header: the server accepts the session cookie for unsafe methods
  // only with it (another origin cannot send it), see api/auth.py.
  const CSRF = { "X-Chargebay-UI": "1" };

  // the words, from the catalogue /ui/strings.js serves (api/ui/strings/, as the templates')
  const TEXTS = typeof STRINGS === "undefined" ? { lang: "en", texts: {} } : STRINGS;
  const PLURAL = new Intl.PluralRules(TEXTS.lang);

  /** The catalogue's text of `key` with its {fields} from `params`; a count-dependent text picks
   * its plural form by `params.n`. An unknown key shows as itself (and warns), never as blank. */
  function t(key, params = {}) {
    let text = TEXTS.texts[key];
    if (text === undefined) { console.warn(`no text for ${key}`); return key; }
    if (typeof text === "object") text = text[PLURAL.select(params.n)] ?? text.other;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  /** Call the REST API; resolves to {ok, status, data} and never throws on an HTTP error. */
  async function api(method, path, body) {
    const init = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") Object.assign(init.headers, CSRF);
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (err) {
      return { ok: false, status: 0, data: { code: "NetworkError", message: String(err) } };
    }
    if (response.status === 401) {
      location.href = "/?next=" + encodeURIComponent(location.pathname);
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = { message: text }; }
    return { ok: response.ok, status: response.status, data };
  }

  /** A person's sentence for a failed call; a 403 says which role would be needed. */
  function explain(result) {
    const d = result.data || {};
    if (result.status === 403 && d.code === "Forbidden") {
      return t("common.forbidden", { role: document.body.dataset.role });
    }
    return t("common.failed", { code: d.code || t("common.error_status", { status: result.status }),
      message: d.message || t("common.request_failed") });
  }

  /** h("td", {class: "x", onclick: fn}, child, "text") */
  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child !== null && child !== undefined && child !== false) node.append(child);
    }
    return node;
  }

  const badge = (status, label) =>
    h("span", { class: `badge s-${status || "unknown"}`, "data-status": status || "unknown" }, label || status || t("common.unknown"));

  // the browser's time zone, named: "12/6/26, 7:57 AM" is a different day in Europe and says
  // nothing of the zone; "2026-12-06 07:57:52 UTC" is read the same way everywhere
  const STAMP = new Intl.DateTimeFormat("en-CA", { year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23", timeZoneName: "short" });

  const ZONE = Object.fromEntries(STAMP.formatToParts(new Date()).map((part) => [part.type, part.value])).timeZoneName;

  /** A chart axis's time: "HH:MM", or "MM-DD HH:MM" over more than a day (24 h, local). */
  function clock(ms, long) {
    const p = Object.fromEntries(STAMP.formatToParts(new Date(ms)).map((part) => [part.type, part.value]));
    return (long ? `${p.month}-${p.day} ` : "") + `${p.hour}:${p.minute}`;
  }

  /** A timestamp as "YYYY-MM-DD HH:MM:SS zone", 24 h, in the browser's time zone. */
  function time(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    const p = Object.fromEntries(STAMP.formatToParts(d).map((part) => [part.type, part.value]));
    return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second} ${p.timeZoneName}`;
  }

  /** How long ago ``iso`` was, in the largest unit that fits ("12 s ago", "3 h ago"). */
  function ago(iso) {
    if (!iso) return t("common.never");
    const seconds = Math.max(0, Math.round((Date.now() - new Date(iso)) / 1000));
    if (isNaN(seconds)) return "";
    if (seconds < 5) return t("ago.now");
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
      if (seconds >= size) return t(`ago.${unit}`, { n: Math.floor(seconds / size) });
    }
    return t("ago.s", { n: seconds });
  }

  function toast(message, bad = false) {
    const box = document.getElementById("toast");
    box.textContent = message;
    box.className = bad ? "toast bad" : "toast";
    box.hidden = false;
    clearTimeout(toast.timer);
    toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
  }

  /** Run a change from a button: disable it meanwhile, toast the outcome, then refresh. */
  async function act(button, method, path, body, done) {
    if (button) button.disabled = true;
    const result = await api(method, path, body);
    if (button) button.disabled = false;
    if (result.ok) toast(result.data && result.data.message ? result.data.message : t("common.done"));
    else toast(explain(result), true);
    if (done) await done(result);
    return result;
  }

  /** Ask before what cannot be undone (a door opened, a token revoked, a thing deleted): a modal
   * <dialog> (role alertdialog) saying what will happen to what, Cancel focused so Enter or Escape
   * does nothing harmful. Resolves true only for the confirming button, whose label says the act
   * ("Open door", "Delete"); `danger` colours it. window.confirm cannot be styled, labelled or
   * tested, and browsers let users suppress it. */
  function confirm(message, { action = t("confirm.ok"), danger = false, title = t("confirm.title") } = {}) {
    const ids = { heading: "confirm-title", text: "confirm-text" };
    const cancel = h("button", { type: "button", "data-answer": "cancel" }, t("common.cancel"));
    const ok = h("button", { type: "button", class: danger ? "danger-solid" : "primary", "data-answer": "ok" }, action);
    const dialog = h("dialog", { class: "confirm", role: "alertdialog", "aria-modal": "true",
      "aria-labelledby": ids.heading, "aria-describedby": ids.text },
    h("h2", { id: ids.heading }, title), h("p", { id: ids.text }, message), h("div", { class: "actions" }, cancel, ok));
    return new Promise((resolve) => {
      cancel.addEventListener("click", () => dialog.close("cancel"));
      ok.addEventListener("click", () => dialog.close("ok"));
      dialog.addEventListener("close", () => { dialog.remove(); resolve(dialog.returnValue === "ok"); });
      document.body.append(dialog);
      dialog.showModal(); // Escape closes it with no returnValue: a no
      cancel.focus();
    });
  }

  /** A CSS variable's value on the page now (it changes with the theme). */
  const color = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  const charts = new Set();

  /** A uPlot chart in the page's colours: axes, ticks and grid read the theme's variables when
   * drawn, a series `stroke` may name one ("--chart-1"), and a theme change redraws it (uPlot
   * paints on a canvas, which CSS cannot recolour). Same arguments as `new uPlot`. */
  function plot(opts, data, box) {
    const themed = (value) => (typeof value === "string" && value.startsWith("--") ? () => color(value) : value);
    const series = (opts.series || []).map((s) => ({ ...s, stroke: themed(s.stroke) }));
    const axes = (opts.axes || [{}, {}]).map((a) => ({ stroke: () => color("--ink"), ...a,
      grid: { stroke: () => color("--grid"), ...a.grid }, ticks: { stroke: () => color("--grid"), ...a.ticks } }));
    if (opts.scales && opts.scales.x && opts.scales.x.time) { // time as everywhere else: 24 h, the zone named
      series[0] = { label: t("common.time_in", { zone: ZONE }), value: (u, v) => (v == null ? "—" : time(v * 1000)), ...series[0] };
      axes[0] = { values: (u, splits) => splits.map((x) => clock(x * 1000, splits[splits.length - 1] - splits[0] > 86400)),
        ...axes[0] };
    }
    const chart = new uPlot({ ...opts, series, axes }, data, box);
    box.uplot = chart; // what it draws, for the browser tests to read
    charts.add(chart);
    return chart;
  }

  document.addEventListener("themechange", () => {
    for (const chart of charts) {
      if (!chart.root.isConnected) { charts.delete(chart); continue; }
      chart.series.forEach((s, i) => { // the legend's markers are drawn once, in the old colours
        const marker = chart.root.querySelectorAll(".u-series")[i]?.querySelector(".u-marker");
        if (marker && i > 0 && s.stroke) marker.style.borderColor = s.stroke(chart, i);
      });
      chart.redraw(false, true);
    }
  });

  /** Put `rows` in `tbody`. A row that carries `data-sig` (what it shows, as a string) and is
   * already there at the same place with the same signature is left in place: live updates come
   * several a second on a busy network, and a row rebuilt under the pointer would swallow the
   * click on its buttons (mouse down on the old button, up on the new one: no click). */
  function fill(tbody, rows, empty) {
    if (!rows.length) rows = [h("tr", {}, h("td", { colspan: 20, class: "muted" }, empty || t("common.nothing")))];
    const same = (old, row) => old && row.dataset.sig !== undefined && old.dataset.sig === row.dataset.sig;
    rows.forEach((row, i) => {
      const old = tbody.children[i];
      if (same(old, row)) return;
      if (old) old.replaceWith(row); else tbody.append(row);
    });
    while (tbody.children.length > rows.length) tbody.lastElementChild.remove();
  }

  /** Coalesce bursts (a boot brings several events) into one call of fn after `ms`. */
  function debounce(fn, ms = 300) {
    let timer = null;
    return () => { clearTimeout(timer); timer = setTimeout(fn, ms); };
  }

  /** `fn` (async) paced: the returned `ask(urgent)` runs it at once when `urgent` (a click), else
   * once `gap` ms have passed since it last ran; one run at a time, and an ask during a run
   * makes one more after it. With `idle`, it runs again after `idle` ms without an ask while the
   * page is shown. A page that asks on every event of a busy stream reads at most once per gap
   * (issue #21: 54 simulated chargers had cost the simulator page 432 requests in 12 s). */
  function paced(fn, gap, idle = 0) {
    let last = 0, timer = null, busy = false, again = false, hurry = false;
    async function run() {
      busy = true;
      last = Date.now();
      try { await fn(); } finally { busy = false; }
      if (again) { const urgent = hurry; again = hurry = false; ask(urgent); }
      else if (idle) timer = setTimeout(() => { if (!document.hidden) ask(); }, idle);
    }
    function ask(urgent = false) {
      if (busy) { again = true; hurry ||= urgent; return; }
      clearTimeout(timer);
      const wait = urgent ? 0 : last + gap - Date.now();
      if (wait > 0) timer = setTimeout(run, wait); else run();
    }
    return ask;
  }

  /** Subscribe to /api/v1/events (the cookie authenticates it); the dot in the header shows it. */
  function live(onEvent, params = {}) {
    const query = new URLSearchParams();  // an array value: the key repeated (charge_point_id)
    for (const [key, value] of Object.entries(params)) for (const one of [].concat(value)) query.append(key, one);
    const source = new EventSource("/api/v1/events" + (query ? "?" + query : ""));
    const dot = document.getElementById("live");
    dot.hidden = false;
    source.onopen = () => dot.classList.add("on");
    source.onerror = () => dot.classList.remove("on");
    for (const type of ["connected", "disconnected", "boot", "status", "transaction_started",
      "transaction_authorized", "transaction_stopped", "command_result", "firmware_status",
      "diagnostics_status", "device_model", "load_allocation", "load_limit"]) {
      source.addEventListener(type, (e) => onEvent(JSON.parse(e.data)));
    }
    return source;
  }

  /** The values of a form as an object (numbers for number inputs, omitting empty fields; a
   *  dotted name nests: "idToken.type" is out.idToken.type, as OCPP 2.0.1 payloads are shaped). */
  function values(form) {
    const out = {};
    const slot = (name) => {
      const path = name.split(".");
      let at = out;
      for (const key of path.slice(0, -1)) at = at[key] = at[key] || {};
      return [at, path[path.length - 1]];
    };
    for (const field of form.elements) {
      if (!field.name || field.type === "submit") continue;
      const [at, key] = slot(field.name);
      if (field.type === "checkbox") {
        if (field.value !== "on") { if (field.checked) (at[key] = at[key] || []).push(field.value); }
        else at[key] = field.checked;
      } else if (field.value !== "") {
        at[key] = field.type === "number" || field.dataset.random !== undefined ? Number(field.value) : field.value;
      }
    }
    return out;
  }

  /** Handle a form's submit here, then enable its submit button. The templates render those
   * buttons disabled: a click that lands after the page is drawn but before its script has run
   * would otherwise submit the form natively (a GET to the page itself) and lose the action. */
  function onSubmit(form, handler) {
    form.addEventListener("submit", handler);
    for (const button of form.querySelectorAll("button[type=submit]")) button.disabled = false;
  }

  return { t, api, explain, h, badge, time, ago, toast, act, confirm, color, plot, fill, debounce, paced, live,
    values, onSubmit };
})();
