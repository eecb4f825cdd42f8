// Alerts: the alerts by state, newest first, acknowledged from here (a dialog confirms it and
// takes a note), and for an admin the rules. Everything through /api/v1/alerts and
// /api/v1/alert-rules; the list reads again when the event stream says an alert changed.
"use strict";
(() => {
  const { api, h, time, ago, fill, debounce, explain, toast, onSubmit, values } = UI;
  const role = document.body.dataset.role;
  const mayAcknowledge = role === "admin" || role === "operator";
  const KINDS = { offline: "Charge point offline", faulted: "Connector Faulted", boot_rejected: "Boot rejected",
    stuck_transaction: "Transaction stuck", load_over_limit: "Load group over its limit" };
  const TITLES = { open: "Open alerts", acknowledged: "Acknowledged alerts", cleared: "Cleared alerts", "": "All alerts" };
  const PAGE_SIZE = 50;
  const tbody = document.querySelector("#alerts-table tbody");
  const dialog = document.getElementById("ack-dialog");
  let state = "open";
  let page = 1;
  let acknowledging = null;  // the alert the dialog is about

  const changed = () => document.dispatchEvent(new Event("alerts-changed"));  // the top bar's count
  const stateBadge = (s) => h("span", { class: `badge alert-${s}`, "data-state": s }, s);

  function subjectLink(a) {
    if (!a.charge_point_id) return a.load_group_id ? h("a", { href: "/ui/load" }, `load group ${a.load_group_id}`) : "";
    return h("a", { href: "/ui/charge-points/" + encodeURIComponent(a.charge_point_id) }, a.subject);
  }

  function row(a) {
    const acknowledged = a.acknowledged_at
      ? h("div", {}, h("div", {}, a.acknowledged_by), h("div", { class: "muted small" }, time(a.acknowledged_at)),
        a.note ? h("div", { class: "note" }, a.note) : null)
      : h("span", { class: "muted" }, "—");
    const action = !a.acknowledged_at && mayAcknowledge
      ? h("button", { type: "button", class: "ack", onclick: () => ask(a) }, "Acknowledge") : null;
    const sig = [a.id, a.state, a.acknowledged_at, a.cleared_at].join("|");
    return h("tr", { dataset: { id: String(a.id), sig } },
      h("td", { class: "state" }, stateBadge(a.state)),
      h("td", { "data-label": "Alert", class: "what" }, h("div", { class: "title" }, a.title),
        h("div", { class: "muted small" }, KINDS[a.kind] || a.kind, " · ", subjectLink(a))),
      h("td", { "data-label": "Since", class: "age" }, a.since ? h("span", { title: time(a.since), dataset: { at: a.since } }, ago(a.since)) : "—"),
      h("td", { "data-label": "Opened" }, time(a.opened_at),
        a.cleared_at ? h("div", { class: "muted small" }, "cleared " + time(a.cleared_at)) : null),
      h("td", { "data-label": "Acknowledged" }, acknowledged),
      h("td", { class: "act" }, action));
  }

  async function load() {
    const query = new URLSearchParams({ page, page_size: PAGE_SIZE });
    if (state) query.set("state", state);
    const result = await api("GET", "/api/v1/alerts?" + query);
    if (!result.ok) { fill(tbody, [h("tr", {}, h("td", { colspan: 6, class: "error" }, explain(result)))]); return; }
    const { items, total } = result.data;
    const pages = Math.max(1, Math.ceil(total / PAGE_SIZE));
    if (page > pages) { page = pages; return load(); }
    document.getElementById("alerts-title").firstChild.textContent = TITLES[state] + " ";
    document.getElementById("alerts-total").textContent = `(${total})`;
    fill(tbody, items.map(row), state === "open" ? "No open alerts: nothing needs a person now." : "No alerts.");
    document.getElementById("page-info").textContent = `page ${page} of ${pages}`;
    document.getElementById("prev").disabled = page <= 1;
    document.getElementById("next").disabled = page >= pages;
  }

  // -- acknowledging: the dialog is the confirmation, and takes the note ---------------------
  function ask(alert) {
    acknowledging = alert;
    document.getElementById("ack-what").textContent = `${alert.title} (alert ${alert.id}, opened ${time(alert.opened_at)})`;
    dialog.querySelector("textarea").value = "";
    dialog.showModal();
  }

  onSubmit(document.getElementById("ack-form"), async (e) => {
    e.preventDefault();
    const alert = acknowledging;
    const button = e.currentTarget.querySelector("button[type=submit]");
    const note = dialog.querySelector("textarea").value.trim();
    button.disabled = true;
    const result = await api("POST", `/api/v1/alerts/${alert.id}/acknowledge`, note ? { note } : {});
    button.disabled = false;
    if (!result.ok) { toast(explain(result), true); if (result.status !== 409) return; }
    else toast(`Alert ${alert.id} acknowledged`);
    dialog.close();
    changed();
    load();
  });
  document.getElementById("ack-cancel").addEventListener("click", () => dialog.close());

  // -- rules (admin) ------------------------------------------------------------------------
  const emailList = (text) => String(text || "").split(/[\s,;]+/).filter(Boolean);

  function ruleRow(r) {
    const minutes = h("input", { type: "number", min: 0, max: 10080, value: r.minutes, "aria-label": "After minutes" });
    const enabled = h("input", { type: "checkbox", "aria-label": "On" });
    enabled.checked = r.enabled;
    const emails = h("input", { type: "text", value: r.emails.join(", "), "aria-label": "E-mail to", placeholder: "nobody" });
    const save = async (button) => {
      const body = { minutes: Number(minutes.value), enabled: enabled.checked, emails: emailList(emails.value) };
      const result = await api("PATCH", `/api/v1/alert-rules/${r.id}`, body);
      if (result.ok) toast(`Rule ${r.id} saved`); else toast(explain(result), true);
      if (button) loadRules();
    };
    enabled.addEventListener("change", () => save(null));
    return h("tr", { dataset: { id: String(r.id), kind: r.kind } },
      h("td", { "data-label": "Condition" }, KINDS[r.kind] || r.kind),
      h("td", { "data-label": "After (minutes)" }, minutes),
      h("td", { "data-label": "On" }, enabled),
      h("td", { "data-label": "E-mail to", class: "emails" }, emails),
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", onclick: (e) => save(e.currentTarget) }, "Save"),
        h("button", { type: "button", class: "danger", onclick: async () => {
          if (!await UI.confirm(`Delete the rule "${KINDS[r.kind]}"? Its open alerts clear at the next evaluation.`,
            { action: "Delete", danger: true })) return; // asked in the page's dialog, never window.confirm
          const result = await api("DELETE", `/api/v1/alert-rules/${r.id}`);
          if (result.ok) toast(`Rule ${r.id} deleted`); else toast(explain(result), true);
          loadRules();
        } }, "Delete"))));
  }

  async function loadRules() {
    const result = await api("GET", "/api/v1/alert-rules?page_size=100");
    const body = document.querySelector("#rules-table tbody");
    if (!result.ok) { fill(body, [h("tr", {}, h("td", { colspan: 5, class: "error" }, explain(result)))]); return; }
    fill(body, result.data.items.map(ruleRow), "No rules: no alert will open.");
  }

  if (role === "admin") {
    document.getElementById("rules-box").hidden = false;
    onSubmit(document.getElementById("rule-form"), async (e) => {
      e.preventDefault();
      const formEl = e.currentTarget;  // (null once the event has been handled: kept for after the call)
      const form = values(formEl);
      const result = await api("POST", "/api/v1/alert-rules",
        { kind: form.kind, minutes: form.minutes || 0, emails: emailList(form.emails) });
      if (!result.ok) { toast(explain(result), true); return; }
      toast(`Rule ${result.data.id} added`);
      formEl.reset();
      loadRules();
    });
    loadRules();
  } else {
    document.getElementById("rules-admin-only").hidden = false;
  }

  // -- state tabs, pages, live changes --------------------------------------------------------
  for (const tab of document.querySelectorAll("#alert-states button")) {
    tab.addEventListener("click", () => {
      state = tab.dataset.state;
      page = 1;
      for (const other of document.querySelectorAll("#alert-states button")) {
        other.setAttribute("aria-selected", String(other === tab));
      }
      load();
    });
  }
  document.getElementById("prev").addEventListener("click", () => { page -= 1; load(); });
  document.getElementById("next").addEventListener("click", () => { page += 1; load(); });

  const reload = debounce(() => { load(); changed(); }, 300);
  const source = new EventSource("/api/v1/events?types=alert.opened,alert.cleared,alert.acknowledged");
  const dot = document.getElementById("live");
  dot.hidden = false;
  source.onopen = () => dot.classList.add("on");
  source.onerror = () => dot.classList.remove("on");
  for (const type of ["alert.opened", "alert.cleared", "alert.acknowledged"]) source.addEventListener(type, reload);
  setInterval(() => { for (const cell of tbody.querySelectorAll("td.age span")) cell.textContent = ago(cell.dataset.at); }, 10000);
  load();
})();
