// Light or dark, before the first paint (loaded in <head>, so a dark page never flashes white):
// the choice made with the top bar's toggle, kept in localStorage, else the system's
// (prefers-color-scheme, followed live). app.css reads <html data-theme>.
"use strict";
(() => {
  const KEY = "cb-theme";
  const root = document.documentElement;
  const system = matchMedia("(prefers-color-scheme: dark)");
  const stored = () => { try { return localStorage.getItem(KEY); } catch (_) { return null; } };
  const store = (value) => {
    try { value ? localStorage.setItem(KEY, value) : localStorage.removeItem(KEY); } catch (_) { /* private mode: this page only */ }
  };

  function apply() {
    const theme = stored() || (system.matches ? "dark" : "light");
    if (root.dataset.theme === theme) return;
    root.dataset.theme = theme;
    const toggle = document.getElementById("theme-toggle");
    if (toggle) toggle.setAttribute("aria-pressed", String(theme === "dark"));
    document.dispatchEvent(new CustomEvent("themechange", { detail: { theme } })); // charts redraw
  }

  apply();
  system.addEventListener("change", apply);
  window.addEventListener("storage", (e) => { if (e.key === KEY) apply(); }); // another tab's choice
  document.addEventListener("DOMContentLoaded", () => {
    const toggle = document.getElementById("theme-toggle");
    toggle.setAttribute("aria-pressed", String(root.dataset.theme === "dark"));
    toggle.addEventListener("click", () => {
      const next = root.dataset.theme === "dark" ? "light" : "dark";
      // the system's own choice is not stored: the page follows the system again from there
      store(next === (system.matches ? "dark" : "light") ? null : next);
      root.dataset.theme = "";
      apply();
    });
  });
})();
