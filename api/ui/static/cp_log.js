// The OCPP message log (GET .../messages), newest first: one line per frame (time, direction,
// action, kind, a preview of the payload), opened to read the payload whole.
"use strict";

CP.log = (() => {
  const { t, api, h } = UI;
  const list = document.getElementById("messages");
  const filter = document.getElementById("action-filter");
  const actions = document.getElementById("actions");
  const more = document.getElementById("messages-more");
  const KIND = { 2: "CALL", 3: "CALLRESULT", 4: "CALLERROR" };
  let size = 50;

  /** A frame's payload (a CALLERROR's code, description and details); the text if not JSON. */
  function payload(frame) {
    try {
      const f = JSON.parse(frame);
      return f[0] === 2 ? f[3] : f[0] === 3 ? f[2] : { errorCode: f[2], errorDescription: f[3], errorDetails: f[4] };
    } catch (_) {
      return frame;
    }
  }

  function line(m) {
    const body = payload(m.frame);
    return h("li", { dataset: { action: m.action || "", direction: m.direction } }, CP.entry([
      h("span", { class: "when" }, CP.clock(m.ts)), " ",
      h("span", { class: "dir " + m.direction, title: t(m.direction === "in" ? "charge_point.from_charge_point" : "charge_point.to_charge_point") },
        m.direction === "in" ? "⟵" : "⟶"), " ",
      h("strong", {}, m.action || "?"), " ",
      h("span", { class: m.message_type === 4 ? "kind error-kind" : "kind" }, KIND[m.message_type] || ""), " ",
      h("code", { class: "preview" }, typeof body === "string" ? body.slice(0, 110) : CP.preview(body))],
    () => h("div", {}, h("div", { class: "muted" }, t("charge_point.message_id", { id: m.message_id || t("common.none") })),
      typeof body === "string" ? h("pre", { class: "json" }, body) : CP.pretty(body))));
  }

  async function load() {
    const action = filter.value.trim();
    const query = new URLSearchParams({ page_size: size });
    if (action) query.set("action", action);
    const result = await api("GET", `${CP.base}/messages?${query}`);
    if (!result.ok) return;
    const items = result.data.items;
    const seen = new Set([...actions.options].map((o) => o.value));
    for (const m of items) {
      if (m.action && !seen.has(m.action)) { seen.add(m.action); actions.append(h("option", { value: m.action })); }
    }
    CP.keyed(list, items, (m) => String(m.id), line);
    if (!items.length) list.replaceChildren(h("li", { class: "muted" }, t("charge_point.no_messages")));
    more.hidden = result.data.total <= items.length;
  }

  filter.addEventListener("change", load);
  more.addEventListener("click", () => { size = Math.min(size + 100, 1000); load(); });
  return { load };
})();
