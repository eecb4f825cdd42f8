// The charge point page's shared parts: which charge point, its REST base, what its parts tell
// each other, and the helpers the history and the message log both draw their lines with.
"use strict";

const CP = (() => {
  const { h } = UI;
  const id = document.getElementById("cp").dataset.id;
  const base = "/api/v1/charge-points/" + encodeURIComponent(id);
  const listeners = {};

  /** A part tells the others (a command answered, the version known) without knowing them. */
  function on(name, fn) { (listeners[name] = listeners[name] || []).push(fn); }
  function emit(name, ...args) { for (const fn of listeners[name] || []) fn(...args); }

  /** Put one node per item in `box`, in order, reusing the node made before for the same key:
   *  a live refresh several times a minute must not fold up the line someone opened to read. */
  function keyed(box, items, key, make) {
    const old = new Map([...box.children].map((node) => [node.dataset.key, node]));
    box.replaceChildren(...items.map((item) => {
      const k = key(item);
      const node = old.get(k) || make(item);
      node.dataset.key = k;
      return node;
    }));
  }

  /** One line that opens to what it is about; `body` is drawn on first opening (a payload
   *  pretty-printed for each of 100 lines nobody opens costs the page for nothing). */
  function entry(summary, body) {
    const node = h("details", { class: "entry" }, h("summary", {}, summary));
    node.addEventListener("toggle", () => { if (node.open && node.children.length === 1) node.append(body()); });
    return node;
  }

  const pretty = (value) => h("pre", { class: "json" }, JSON.stringify(value, null, 2));

  /** Today's time of day, 24 h, to the second, in the browser's zone (a line of a log has no
   *  room for more); another day's whole stamp (UI.time). */
  function clock(iso) {
    const d = new Date(iso);
    if (!iso || isNaN(d) || d.toDateString() !== new Date().toDateString()) return UI.time(iso);
    return d.toLocaleTimeString([], { hourCycle: "h23", hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  /** A one-line preview of a JSON value, cut to `max` characters. */
  function preview(value, max = 110) {
    const text = value === undefined ? "" : JSON.stringify(value);
    return text.length > max ? text.slice(0, max - 1) + "…" : text;
  }

  const random = () => 1 + Math.floor(Math.random() * 2147483646);

  return { id, base, on, emit, keyed, entry, pretty, clock, preview, random, version: null, running: [] };
})();
