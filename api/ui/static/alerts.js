// Alerts: the alerts by state, newest first, acknowledged from here (a dialog confirms it and
// takes a note), and for an admin the rules. Everything through /api/v1/alerts and
// /api/v1/alert-rules; the list reads again when the event stream says an alert changed.
"use strict";
(() => {
  const { t, api, h, time, ago, fill, debounce, explain, toast, onSubmit, values } = UI;
  const role = document.body.dataset.role;
  const mayAcknowledge = role === "admin" || role === "operator";
  const KINDS = { offline: t("alerts.kind_offline"), faulted: t("alerts.kind_faulted"), boot_rejected: t("alerts.kind_boot_rejected"),
    stuck_transaction: t("alerts.kind_stuck_transaction"), load_over_limit: t("alerts.kind_load_over_limit") };
  const TITLES = { open: "alerts.title_open", acknowledged: "alerts.title_acknowledged", cleared: "alerts.title_cleared",
    "": "alerts.title_all" };
  const STATES = { open: t("alerts.state_open"), acknowledged: t("alerts.state_acknowledged"), cleared: t("alerts.state_cleared") };
  const PAGE_SIZE = 50;
  const tbody = document.querySelector("#alerts-table tbody");
  const dialog = document.getElementById("ack-dialog");
  let state = "open";
  let page = 1;
  let acknowledging = null;  // the alert the dialog is about

  const changed = () => document.dispatchEvent(new Event("alerts-changed"));  // the top bar's count
  const stateBadge = (s) => h("span", { class: `badge alert-${s}`, "data-state": s }, STATES[s] || s);

  const WHAT = { offline: "alerts.what_offline", faulted: "alerts.what_faulted", boot_rejected: "alerts.what_boot_rejected",
    stuck_transaction: "alerts.what_stuck", load_over_limit: "alerts.what_over_limit" };

  /** What the alert is about, in the catalogue's words (the server's `title` is the e-mail's English). */
  function titleOf(a) {
    const key = WHAT[a.kind];
    if (!key) return a.title;
    const text = t(key, { cp: a.charge_point_id, connector: a.connector_id, transaction: a.transaction_id,
      group: a.load_group_id });
    return a.detail && a.kind === "faulted" ? t("alerts.what_detail", { text, detail: a.detail }) : text;
  }

  function subjectLink(a) {
    if (!a.charge_point_id) return a.load_group_id ? h("a", { href: "/ui/load" }, t("alerts.load_group", { id: a.load_group_id })) : "";
    return h("a", { href: "/ui/charge-points/" + encodeURIComponent(a.charge_point_id) }, a.subject);
  }

  function row(a) {
    const acknowledged = a.acknowledged_at
      ? h("div", {}, h("div", {}, a.acknowledged_by), h("div", { class: "muted small" }, time(a.acknowledged_at)),
        a.note ? h("div", { class: "note" }, a.note) : null)
      : h("span", { class: "muted" }, t("common.none"));
    const action = !a.acknowledged_at && mayAcknowledge
      ? h("button", { type: "button", class: "ack", onclick: () => ask(a) }, t("alerts.acknowledge")) : null;
    const sig = [a.id, a.state, a.acknowledged_at, a.cleared_at].join("|");
    return h("tr", { dataset: { id: String(a.id), sig } },
      h("td", { class: "state" }, stateBadge(a.state)),
      h("td", { "data-label": t("alerts.col_alert"), class: "what" }, h("div", { class: "title" }, titleOf(a)),
        h("div", { class: "muted small" }, KINDS[a.kind] || a.kind, " · ", subjectLink(a))),
      h("td", { "data-label": t("alerts.col_since"), class: "age" },
        a.since ? h("span", { title: time(a.since), dataset: { at: a.since } }, ago(a.since)) : t("common.none")),
      h("td", { "data-label": t("alerts.col_opened") }, time(a.opened_at),
        a.cleared_at ? h("div", { class: "muted small" }, t("alerts.cleared_at", { time: time(a.cleared_at) })) : null),
      h("td", { "data-label": t("alerts.col_acknowledged") }, acknowledged),
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
    document.getElementById("alerts-title").firstChild.textContent = t(TITLES[state]) + " ";
    document.getElementById("alerts-total").textContent = `(${total})`;
    fill(tbody, items.map(row), t(state === "open" ? "alerts.none_open" : "alerts.none"));
    document.getElementById("page-info").textContent = t("common.page", { page, pages });
    document.getElementById("prev").disabled = page <= 1;
    document.getElementById("next").disabled = page >= pages;
  }

  // -- acknowledging: the dialog is the confirmation, and takes the note ---------------------
  function ask(alert) {
    acknowledging = alert;
    document.getElementById("ack-what").textContent = t("alerts.ack_what", { title: titleOf(alert), id: alert.id, time: time(alert.opened_at) });
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
    else toast(t("alerts.acknowledged", { id: alert.id }));
    dialog.close();
    changed();
    load();
  });
  document.getElementById("ack-cancel").addEventListener("click", () => dialog.close());

  // -- rules (admin) ------------------------------------------------------------------------
  const emailList = (text) => String(text || "").split(/[\s,;]+/).filter(Boolean);

  function ruleRow(r) {
    const minutes = h("input", { type: "number", min: 0, max: 10080, value: r.minutes, "aria-label": t("alerts.minutes") });
    const enabled = h("input", { type: "checkbox", "aria-label": t("alerts.col_on") });
    enabled.checked = r.enabled;
    const emails = h("input", { type: "text", value: r.emails.join(", "), "aria-label": t("alerts.col_emails"), placeholder: t("alerts.emails_nobody") });
    const save = async (button) => {
      const body = { minutes: Number(minutes.value), enabled: enabled.checked, emails: emailList(emails.value) };
      const result = await api("PATCH", `/api/v1/alert-rules/${r.id}`, body);
      if (result.ok) toast(t("alerts.rule_saved", { id: r.id })); else toast(explain(result), true);
      if (button) loadRules();
    };
    enabled.addEventListener("change", () => save(null));
    return h("tr", { dataset: { id: String(r.id), kind: r.kind } },
      h("td", { "data-label": t("alerts.col_condition") }, KINDS[r.kind] || r.kind),
      h("td", { "data-label": t("alerts.col_minutes") }, minutes),
      h("td", { "data-label": t("alerts.col_on") }, enabled),
      h("td", { "data-label": t("alerts.col_emails"), class: "emails" }, emails),
      h("td", {}, h("div", { class: "actions" },
        h("button", { type: "button", onclick: (e) => save(e.currentTarget) }, t("common.save")),
        h("button", { type: "button", class: "danger", onclick: async () => {
          if (!await UI.confirm(t("alerts.confirm_delete_rule", { kind: KINDS[r.kind] || r.kind }),
            { action: t("common.delete"), danger: true })) return; // asked in the page's dialog, never window.confirm
          const result = await api("DELETE", `/api/v1/alert-rules/${r.id}`);
          if (result.ok) toast(t("alerts.rule_deleted", { id: r.id })); else toast(explain(result), true);
          loadRules();
        } }, t("common.delete")))));
  }

  async function loadRules() {
    const result = await api("GET", "/api/v1/alert-rules?page_size=100");
    const body = document.querySelector("#rules-table tbody");
    if (!result.ok) { fill(body, [h("tr", {}, h("td", { colspan: 5, class: "error" }, explain(result)))]); return; }
    fill(body, result.data.items.map(ruleRow), t("alerts.no_rules"));
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
      toast(t("alerts.rule_added", { id: result.data.id }));
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
