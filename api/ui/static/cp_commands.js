// Every command of the charge point's OCPP version, each a form generated from its request
// schema (GET /api/v1/ocpp-versions/{v}), sent through the REST command route, answered inline.
"use strict";

CP.commands = (() => {
  const { t, api, h, explain, onSubmit } = UI;
  // what an operator reaches for first; the rest follow A to Z
  const FREQUENT = {
    "1.6": ["RemoteStartTransaction", "RemoteStopTransaction", "Reset", "ChangeAvailability", "UnlockConnector",
      "TriggerMessage", "GetConfiguration", "ChangeConfiguration", "ReserveNow", "ClearCache"],
    "2.0.1": ["RequestStartTransaction", "RequestStopTransaction", "Reset", "ChangeAvailability", "UnlockConnector",
      "TriggerMessage", "GetBaseReport", "GetVariables", "SetVariables", "ReserveNow", "ClearCache"],
  };
  const RANDOM = ["remoteStartId", "requestId"]; // ids the station echoes back: new for each command
  const RANDOM_IN = { ReserveNow: ["reservationId", "id"] }; // a new reservation's own id
  const LIST_WORDS = { configurationKey: "charge_point.answer_keys", unknownKey: "charge_point.answer_unknown_keys" };
  const pick = document.getElementById("command-pick");
  const box = document.getElementById("command-form");
  const resultBox = document.getElementById("command-result");
  let catalogue = new Map();
  let current = null; // {action, form (SchemaForm), node (the <form>), raw (the JSON textarea) | null}

  /** The commands of `version`; the form of the first frequent one. */
  async function load(version) {
    const result = await api("GET", "/api/v1/ocpp-versions/" + encodeURIComponent(version));
    if (!result.ok) { box.replaceChildren(h("p", { class: "error" }, explain(result))); return; }
    catalogue = new Map(result.data.commands.map((c) => [c.action, c]));
    const frequent = (FREQUENT[version] || []).filter((a) => catalogue.has(a));
    const option = (a) => h("option", { value: a }, a);
    pick.replaceChildren(h("optgroup", { label: t("charge_point.frequent") }, frequent.map(option)),
      h("optgroup", { label: t("charge_point.more") }, [...catalogue.keys()].filter((a) => !frequent.includes(a)).map(option)));
    pick.disabled = false;
    document.getElementById("command-count").textContent = t("charge_point.command_count", { n: catalogue.size, version });
    show(pick.value);
  }

  /** What a fresh form starts with: the example's choices (enums, numbers, structures), not its
   *  made-up texts (those become placeholders) nor its dates (now, or in an hour for an expiry);
   *  new ids; the running transaction to stop. */
  function initial(entry) {
    const props = entry.request_schema.properties || {};
    const out = choices(entry.request_schema, entry.example, "") || {};
    for (const name of [...RANDOM, ...(RANDOM_IN[entry.action] || [])]) if (props[name]) out[name] = CP.random();
    const running = CP.running[0];
    if (running && props.transactionId) {
      out.transactionId = props.transactionId.type === "string" ? running.station_transaction_id || undefined : running.id;
    }
    return out;
  }

  function choices(schema, value, name) {
    if (value === undefined || !schema) return undefined;
    if (schema.type === "object" && schema.properties && value && typeof value === "object") {
      const out = {};
      for (const [key, v] of Object.entries(value)) {
        const kept = choices(schema.properties[key], v, key);
        if (kept !== undefined) out[key] = kept;
      }
      return out;
    }
    if (schema.format === "date-time") return new Date(Date.now() + (/expir/i.test(name) ? 3600e3 : 0)).toISOString();
    if (schema.type === "string" && !schema.enum) return undefined;
    if (schema.type === "array" && (schema.items || {}).type !== "object") return undefined; // keys: all
    return value;
  }

  /** Example texts as placeholders, by the dotted names the inputs carry. */
  function placeholders(node, example, path = "") {
    for (const [key, value] of Object.entries(example || {})) {
      const name = path ? `${path}.${key}` : key;
      if (value && typeof value === "object" && !Array.isArray(value)) placeholders(node, value, name);
      const input = node.querySelector(`input[name="${name}"]:not([type=number]):not([type=checkbox])`);
      if (input && typeof value === "string" && !input.placeholder) input.placeholder = value;
    }
  }

  /** Show `action`'s form, filled with `payload` (a command of the history sent again) or its start. */
  function show(action, payload) {
    const entry = catalogue.get(action);
    if (!entry) return;
    if (resultBox.dataset.action !== action) resultBox.hidden = true; // another command's answer is not this one's
    pick.value = action;
    const form = SchemaForm.build(entry.request_schema);
    const send = h("button", { type: "submit", class: "primary", disabled: true }, t("charge_point.send"));
    const toggle = h("button", { type: "button", class: "json-toggle" }, t("charge_point.as_json"));
    const node = h("form", { class: "command", dataset: { action } }, form.node,
      h("div", { class: "actions" }, send, toggle));
    current = { action, form, node, raw: null };
    form.set(payload || initial(entry));
    placeholders(node, entry.example);
    const stop = node.querySelector('[name="transactionId"]');
    if (stop && !payload) { // follows the running transaction until typed in
      stop.dataset.auto = "";
      stop.addEventListener("input", () => { delete stop.dataset.auto; }, { once: true });
    }
    toggle.addEventListener("click", () => switchMode(toggle));
    onSubmit(node, submit);
    box.replaceChildren(h("p", { class: "muted schema-note" }, description(entry)), node);
  }

  function description(entry) {
    const required = entry.request_schema.required || [];
    return required.length ? t("charge_point.required_fields", { fields: required.join(", ") }) : t("charge_point.nothing_required");
  }

  /** The form as JSON and back (what the form cannot hold, customData say, only in JSON). */
  function switchMode(toggle) {
    const { form, node } = current;
    if (!current.raw) {
      let payload = {};
      try { payload = form.read(); } catch (_) { /* a broken JSON field: start from what reads */ }
      current.raw = h("textarea", { class: "json", name: "__payload", rows: 12, spellcheck: "false" },
        JSON.stringify(payload, null, 2));
      form.node.replaceWith(current.raw);
      toggle.textContent = t("charge_point.as_form");
    } else {
      try { form.set(JSON.parse(current.raw.value)); } catch (_) {
        current.raw.setCustomValidity(t("charge_point.invalid_json")); current.raw.reportValidity(); return;
      }
      current.raw.replaceWith(form.node);
      current.raw = null;
      toggle.textContent = t("charge_point.as_json");
    }
    node.dataset.mode = current.raw ? "json" : "form";
  }

  function payloadOf() {
    if (current.raw) {
      try { return JSON.parse(current.raw.value); } catch (_) { throw new SchemaForm.Invalid(current.raw, t("charge_point.invalid_json")); }
    }
    return current.form.read();
  }

  async function submit(event) {
    event.preventDefault();
    const { action, node } = current;
    let payload;
    try {
      payload = payloadOf();
    } catch (err) {
      if (!(err instanceof SchemaForm.Invalid)) throw err;
      err.input.setCustomValidity(err.message);
      err.input.reportValidity();
      err.input.addEventListener("input", () => err.input.setCustomValidity(""), { once: true });
      return;
    }
    const asked = ASK_FIRST[action];
    if (asked && !await UI.confirm(t(asked, { action, id: CP.id }), { action: t("charge_point.send_anyway", { action }), danger: true })) {
      return;
    }
    const result = await send(action, payload, node.querySelector("button[type=submit]"));
    if (current && current.node === node && !current.raw) {
      for (const name of [...RANDOM, ...(RANDOM_IN[action] || [])]) {
        const input = node.querySelector(`[name="${name}"]`);
        if (input) input.value = CP.random();
      }
    }
    return result;
  }

  // what acts on the physical station or throws something away is asked first (the sentence says what)
  const ASK_FIRST = {
    Reset: "charge_point.ask_reset", UnlockConnector: "charge_point.ask_unlock",
    ClearCache: "charge_point.ask_forget", ClearChargingProfile: "charge_point.ask_forget",
    DeleteCertificate: "charge_point.ask_forget", SendLocalList: "charge_point.ask_forget",
    ChangeAvailability: "charge_point.ask_availability", UpdateFirmware: "charge_point.ask_firmware",
    CancelReservation: "charge_point.ask_forget", SetNetworkProfile: "charge_point.ask_network",
  };

  /** Send a command through the REST command route and tell the page's parts (the history
   *  shows it pending while it waits, then its outcome; an answer may fill a table). */
  async function call(action, payload) {
    const pending = setTimeout(() => CP.emit("sent"), 300);
    const result = await api("POST", `${CP.base}/commands/${action}?wait=30`, payload);
    clearTimeout(pending);
    CP.emit("answered", action, payload, result);
    CP.emit("sent");
    return result;
  }

  /** Send the form's command and show its answer here. */
  async function send(action, payload, button) {
    if (button) button.disabled = true;
    resultBox.hidden = false;
    resultBox.className = "result";
    resultBox.dataset.action = action;
    delete resultBox.dataset.status;
    resultBox.replaceChildren(h("strong", {}, action), " ", t("charge_point.sending"));
    const result = await call(action, payload);
    if (button) button.disabled = false;
    const response = result.ok ? result.data.response : null;
    const status = result.ok ? summary(response) : String(result.status);
    resultBox.className = result.ok ? "result" : "result bad";
    resultBox.dataset.status = result.ok ? (response.status || "ok") : status;
    const body = result.ok ? response : result.data;
    const big = JSON.stringify(body).length > 600;
    resultBox.replaceChildren(h("strong", {}, action), " ", result.ok ? t("charge_point.answered", { status }) : explain(result),
      big ? CP.entry(t("charge_point.whole_answer"), () => CP.pretty(body)) : CP.pretty(body));
    return result;
  }

  /** An answer in a few words: its status, else what it holds (GetConfiguration: its keys). */
  function summary(response) {
    if (!response || typeof response !== "object") return t("charge_point.ok");
    if (response.status) return response.status;
    const lists = Object.entries(response).filter(([key, v]) => Array.isArray(v) && (v.length || key === "configurationKey"));
    if (!lists.length) return t("charge_point.ok");
    return lists.map(([key, v]) => {
      const statuses = [...new Set(v.map((x) => x && (x.attributeStatus || x.status)).filter(Boolean))];
      return statuses.length ? statuses.join(", ") : t(LIST_WORDS[key] || "charge_point.answer_items", { n: v.length, name: key });
    }).join("; ");
  }

  /** A stop form filled in for us keeps naming the running transaction as they come and go. */
  CP.on("running", (running) => {
    const input = current && current.node.querySelector('[name="transactionId"]');
    if (!input || input.dataset.auto === undefined || document.activeElement === input) return;
    const tx = running[0];
    input.value = !tx ? "" : input.type === "number" ? String(tx.id) : tx.station_transaction_id || "";
  });
  pick.addEventListener("change", () => show(pick.value));
  return { load, show, call, summary };
})();
