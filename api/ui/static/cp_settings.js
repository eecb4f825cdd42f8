// What a charge point is set to, as tables with an edit per writable entry: a 1.6 charge point's
// configuration (GetConfiguration's answers, kept in the command history; edited with
// ChangeConfiguration) and a 2.0.1 station's device model (GET .../variables; SetVariables).
"use strict";

CP.settings = (() => {
  const { t, api, h, badge, fill, debounce, toast, explain } = UI;
  const configBody = document.querySelector("#config tbody");
  const configFilter = document.getElementById("config-filter");
  const configSource = document.getElementById("config-source");
  const modelBody = document.querySelector("#device-model tbody");
  const componentFilter = document.getElementById("component-filter");
  const variableFilter = document.getElementById("variable-filter");
  const config = new Map(); // key -> {key, readonly, value}
  const CONFIG_PAGES = 10; // of 100 reads: how far back the latest read of every key is looked for
  const said = new Map(); // a row's key -> what the charge point answered its last edit
  let variables = [];

  /** A row whose value cell becomes an input with Save and Cancel. The row's signature holds
   *  what it shows, so a live refresh leaves an open editor alone (UI.fill keeps equal rows) and
   *  redraws the row once a save changed it. */
  function row(key, name, before, value, after, writable, save) {
    const valueCell = h("td", { class: "value" }, value ?? "");
    const status = said.get(key);
    const edit = h("button", { type: "button", class: "edit", onclick: () => open() }, t("common.edit"));
    const tr = h("tr", { dataset: { key, sig: JSON.stringify([before, value, after, writable, status]) } },
      before.map((c) => h("td", {}, c)), valueCell, after.map((c) => h("td", {}, c)),
      h("td", { class: "actions" }, writable ? edit : "", status ? badge(status) : ""));
    function open() {
      const input = h("input", { value: value ?? "", "aria-label": t("charge_point.new_value", { name }), name: "value" });
      const ok = h("button", { type: "submit", class: "primary" }, t("common.save"));
      const form = h("form", { class: "inline-edit" }, input, ok,
        h("button", { type: "button", onclick: () => valueCell.replaceChildren(value ?? "") }, t("common.cancel")));
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        ok.disabled = true;
        const result = await save(input.value);
        ok.disabled = false;
        if (!result.ok) { toast(explain(result), true); return; }
        said.set(key, result.status);
        toast(`${name}: ${result.status}`, !/^(Accepted|RebootRequired)$/.test(result.status));
        valueCell.replaceChildren(value ?? ""); // the row is redrawn with what the charge point now says
        render();
      });
      valueCell.replaceChildren(form);
      input.focus();
    }
    return tr;
  }

  // -- 1.6: configuration ------------------------------------------------------------------------

  /** A GetConfiguration answer into the table: a read of all keys replaces it, of some updates them. */
  function apply(payload, response, at) {
    if (!(payload && payload.key && payload.key.length)) config.clear();
    for (const k of response.configurationKey || []) config.set(k.key, k);
    configSource.textContent = t("charge_point.as_read", { time: CP.clock(at || new Date().toISOString()) });
  }

  const whole = (c) => !(c.payload && c.payload.key && c.payload.key.length); // a read of every key

  /** The configuration as the reads answered (the command history keeps them): the latest read of
   *  every key, then the reads of some keys since (each edit reads its key back), however many;
   *  shown without sending anything, so opening the page asks the charge point nothing. */
  async function loadConfig() {
    const since = []; // newest first, back to the latest whole read
    for (let page = 1; page <= CONFIG_PAGES; page += 1) {
      const query = new URLSearchParams({ charge_point_id: CP.id, action: "GetConfiguration", status: "result",
        page_size: 100, page });
      const result = await api("GET", "/api/v1/commands?" + query);
      if (!result.ok) return;
      const { items } = result.data;
      const full = items.findIndex(whole);
      since.push(...(full < 0 ? items : items.slice(0, full + 1)));
      if (full >= 0 || items.length < 100) break;
    }
    for (const c of since.reverse()) apply(c.payload, c.response || {}, c.completed_at);
    render();
  }

  async function changeConfiguration(key, value) {
    const result = await CP.commands.call("ChangeConfiguration", { key, value });
    return result.ok ? { ok: true, status: result.data.response.status } : result;
  }

  function renderConfig() {
    const words = configFilter.value.trim().toLowerCase();
    const keys = [...config.values()].filter((k) => !words || k.key.toLowerCase().includes(words))
      .sort((a, b) => a.key.localeCompare(b.key));
    fill(configBody, keys.map((k) => row(k.key, k.key, [k.key], k.value, [t(k.readonly ? "charge_point.read_only" : "charge_point.writable")], !k.readonly,
      (value) => changeConfiguration(k.key, value))),
    t(config.size ? "charge_point.no_key_match" : "charge_point.config_unread"));
  }

  // -- 2.0.1: device model -----------------------------------------------------------------------

  const vkey = (v) => [v.component, v.component_instance, v.evse_id, v.connector_id, v.variable,
    v.variable_instance, v.attribute_type].join("|");
  const part = (name, instance) => (instance ? `${name} (${instance})` : name);

  async function loadModel() {
    const query = new URLSearchParams();
    if (componentFilter.value.trim()) query.set("component", componentFilter.value.trim());
    if (variableFilter.value.trim()) query.set("variable", variableFilter.value.trim());
    const result = await api("GET", `${CP.base}/variables?${query}`);
    if (!result.ok) return;
    variables = result.data.items;
    render();
  }

  async function setVariable(v, value) {
    const component = { name: v.component };
    if (v.component_instance) component.instance = v.component_instance;
    if (v.evse_id) component.evse = v.connector_id ? { id: v.evse_id, connectorId: v.connector_id } : { id: v.evse_id };
    const variable = { name: v.variable };
    if (v.variable_instance) variable.instance = v.variable_instance;
    const result = await CP.commands.call("SetVariables", { setVariableData: [
      { attributeType: v.attribute_type, attributeValue: value, component, variable }] });
    if (!result.ok) return result;
    const [answer] = result.data.response.setVariableResult || [{}];
    await loadModel();
    return { ok: true, status: answer.attributeStatus || "?" };
  }

  function renderModel() {
    fill(modelBody, variables.map((v) => row(vkey(v), `${v.component} ${v.variable} (${v.attribute_type})`, [part(v.component, v.component_instance),
      v.evse_id ? String(v.evse_id) + (v.connector_id ? "/" + v.connector_id : "") : "",
      part(v.variable, v.variable_instance), v.attribute_type],
    v.value, [v.mutability || "", v.unit || "", v.source], v.mutability !== "ReadOnly", (value) => setVariable(v, value))),
    t(componentFilter.value || variableFilter.value ? "charge_point.no_variable_match" : "charge_point.model_unread"));
  }

  function render() { if (CP.version === "2.0.1") renderModel(); else renderConfig(); }

  /** The card of the charge point's version, and its data. */
  function show(version) {
    document.getElementById("config-card").hidden = version !== "1.6";
    document.getElementById("device-model-card").hidden = version !== "2.0.1";
    return version === "2.0.1" ? loadModel() : loadConfig();
  }

  /** Whoever sent it (a row's edit, the command form), an answer that read or changed the
   *  configuration updates the table: a change taken is read back, the charge point's word. */
  CP.on("answered", (action, payload, result) => {
    if (!result.ok || CP.version !== "1.6") return;
    if (action === "GetConfiguration") { apply(payload, result.data.response); render(); }
    if (action === "ChangeConfiguration" && /^(Accepted|RebootRequired)$/.test(result.data.response.status)) {
      CP.commands.call("GetConfiguration", { key: [payload.key] });
    }
  });
  configFilter.addEventListener("input", renderConfig);
  for (const input of [componentFilter, variableFilter]) input.addEventListener("input", debounce(loadModel, 250));
  /** Ask the charge point itself (its answer lands in the table: GetConfiguration at once, a
   *  base report as its NotifyReport parts arrive, device_model events). */
  async function read(button, action, payload) {
    button.disabled = true;
    const result = await CP.commands.call(action, payload);
    button.disabled = false;
    toast(result.ok ? `${action}: ${CP.commands.summary(result.data.response)}` : explain(result), !result.ok);
  }

  document.getElementById("config-read").addEventListener("click", (e) => read(e.currentTarget, "GetConfiguration", {}));
  document.getElementById("model-read").addEventListener("click", (e) =>
    read(e.currentTarget, "GetBaseReport", { requestId: CP.random(), reportBase: "FullInventory" }));
  return { show, loadModel };
})();
