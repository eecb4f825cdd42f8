// The count of open alerts (nobody acknowledged them yet) beside "Alerts" in the top bar, on every
// page: read at load, every 15 s, and at once when a page says alerts changed (the Alerts page
// after an acknowledgement, or when its event stream tells of one): GET /api/v1/alerts/counts.
// A screen reader hears the number in the link's name from a visually hidden text.
"use strict";
(() => {
  const badge = document.getElementById("alert-count");  // seen; hidden from screen readers
  const name = document.getElementById("alert-count-name");  // heard: "Alerts 2 open alerts"
  if (!badge) return;
  async function refresh() {
    const result = await UI.api("GET", "/api/v1/alerts/counts");
    if (!result.ok) return;
    const open = result.data.open;
    badge.textContent = String(open);
    badge.dataset.count = String(open);
    badge.classList.toggle("none", open === 0);
    badge.title = UI.t("base.alert_count", { n: open, acknowledged: result.data.acknowledged });
    badge.hidden = false;
    if (name) name.textContent = " " + UI.t("base.alert_count_label", { n: open });  // the number, said
  }
  document.addEventListener("alerts-changed", refresh);
  setInterval(refresh, 15000);
  refresh();
})();
