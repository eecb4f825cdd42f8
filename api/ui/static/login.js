// Login page: switch between the token, admin and kiosk forms.
"use strict";
for (const tab of document.querySelectorAll("[data-tab]")) {
  tab.addEventListener("click", () => {
    for (const other of document.querySelectorAll("[data-tab]")) {
      other.setAttribute("aria-selected", String(other === tab));
    }
    for (const form of document.querySelectorAll("[data-form]")) {
      form.hidden = form.dataset.form !== tab.dataset.tab;
    }
    document.querySelector(`[data-form="${tab.dataset.tab}"] input:not([type=hidden])`).focus();
  });
}
