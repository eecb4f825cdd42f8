// The commands sent to this charge point (GET /api/v1/commands?charge_point_id=), newest first,
// each one line with its outcome that opens to what was sent and answered; live: reloaded on
// every command_result of the charge point, whoever sent it (another operator, an integrator).
"use strict";

CP.history = (() => {
  const { t, api, h, badge, explain } = UI;
  const list = document.getElementById("history");
  const more = document.getElementById("history-more");
  let size = 15;

  /** [badge status, words] of a command's outcome. */
  function outcome(c) {
    if (c.status === "result") {
      const said = CP.commands.summary(c.response);
      return [c.response && c.response.status ? c.response.status : "ok", said];
    }
    if (c.status === "call_error") return ["failed", c.error_code || "CallError"];
    if (c.status === "pending") return ["Pending", t("charge_point.pending")];
    return [c.status === "offline" ? "offline" : "failed", c.status]; // timeout, offline
  }

  function took(c) {
    if (!c.completed_at) return "";
    const ms = Date.parse(c.completed_at) - Date.parse(c.created_at);
    return ms >= 0 ? ` · ${ms < 1000 ? ms + " ms" : (ms / 1000).toFixed(1) + " s"}` : "";
  }

  function line(c) {
    const [status, words] = outcome(c);
    const again = h("button", { type: "button", class: "again", title: t("charge_point.again_title"),
      onclick: (e) => { e.preventDefault(); CP.commands.show(c.action, c.payload); document.getElementById("commands-card").scrollIntoView(); } }, t("charge_point.again"));
    // Again beside the line, not in its summary: a button inside the control that opens the
    // entry is two controls in one for a keyboard or a screen reader (axe: nested-interactive)
    return [CP.entry([h("span", { class: "when" }, CP.clock(c.created_at)), " ", h("strong", {}, c.action), " ",
      badge(status, words), h("span", { class: "muted" }, ` ${c.requested_by || ""}${took(c)}`)],
    () => h("div", {}, h("h4", {}, t("charge_point.sent")), CP.pretty(c.payload),
      c.status === "result" ? [h("h4", {}, t("charge_point.answer")), CP.pretty(c.response)]
        : c.error_code || c.error_description ? [h("h4", {}, t("charge_point.error")), CP.pretty({ code: c.error_code, description: c.error_description })] : "")),
    again];
  }

  async function load() {
    const query = new URLSearchParams({ charge_point_id: CP.id, page_size: size });
    const result = await api("GET", "/api/v1/commands?" + query);
    if (!result.ok) { list.replaceChildren(h("li", { class: "error" }, explain(result))); return; }
    const items = result.data.items;
    CP.keyed(list, items, (c) => `${c.id}:${c.status}`, (c) => h("li", { dataset: { action: c.action, status: c.status } }, line(c)));
    if (!items.length) list.replaceChildren(h("li", { class: "muted" }, t("charge_point.no_commands")));
    more.hidden = result.data.total <= items.length;
    CP.emit("history", items);
  }

  more.addEventListener("click", () => { size = Math.min(size + 30, 1000); load(); });
  CP.on("sent", load);
  return { load };
})();
