// A form built from an OCPP request's JSON schema (GET /api/v1/ocpp-versions/{v}: every $ref
// written out), so each of a version's 26 or 40 commands gets inputs without a hand-written form
// that would drift from the schema: enums as selects, date-times as local date and time, numbers
// as numbers, nested objects as groups (an optional one folded away), lists of plain values as
// checkboxes or comma-separated text, and what has no fitting input (lists of objects) as JSON.
"use strict";

const SchemaForm = (() => {
  const { t, h } = UI;
  const SKIP = new Set(["customData"]); // 2.0.1's vendor extension on every object: JSON mode only

  /** A schema description's words for a tooltip: 2.0.1's carry data-model ids ("urn:…") and
   *  class names before the sentence that says what the field is. */
  function hint(schema) {
    const lines = String(schema.description || "").split(/\r?\n/).map((l) => l.trim())
      .filter((l) => l && !l.startsWith("urn:"));
    return lines.length ? lines[lines.length - 1].replace(/&gt;/g, ">").replace(/&lt;/g, "<") : undefined;
  }

  const pad = (n) => String(n).padStart(2, "0");
  /** An ISO instant as a datetime-local input's value (the browser's time zone, to the second). */
  function localInput(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return "";
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }

  /** An input the browser refuses with `message` (shown at the field on submit). */
  class Invalid extends Error {
    constructor(input, message) { super(message); this.input = input; }
  }

  const isPlain = (s) => s && ["string", "integer", "number", "boolean"].includes(s.type);

  /** One field: {node, read() -> value | undefined (left out), set(value)}. `path` is the dotted
   *  name (the input's name: "idToken.type"); `needed` says the field and every object around
   *  it are required, so the browser may insist on it (an input in a folded optional group must
   *  not block the form). */
  function field(name, schema, path, needed) {
    if (schema.type === "object" && schema.properties) return group(name, schema, path, needed);
    if (schema.type === "array") return list(name, schema, path, needed);
    return scalar(name, schema, path, needed);
  }

  /** A field's label around its input; `kind` ("check", "wide") widens or lays it out. */
  function labelled(name, schema, input, needed, kind) {
    return h("label", { class: kind ? `field ${kind}` : "field", title: hint(schema) },
      h("span", {}, name, needed ? h("b", { class: "req", title: t("charge_point.field_required") }, " *") : ""), input);
  }

  function scalar(name, schema, path, needed) {
    let input;
    const numeric = schema.type === "integer" || schema.type === "number";
    if (schema.enum) {
      input = h("select", { name: path, required: needed },
        needed ? [] : [h("option", { value: "" }, t("common.none"))], schema.enum.map((v) => h("option", { value: v }, v)));
    } else if (schema.type === "boolean") {
      input = needed ? h("input", { type: "checkbox", name: path })
        : h("select", { name: path }, h("option", { value: "" }, t("common.none")), h("option", { value: "true" }, "true"),
          h("option", { value: "false" }, "false"));
    } else if (schema.format === "date-time") {
      input = h("input", { type: "datetime-local", step: 1, name: path, required: needed });
    } else if (numeric) {
      input = h("input", { type: "number", name: path, required: needed, step: schema.type === "integer" ? 1 : "any",
        min: schema.minimum, max: schema.maximum, placeholder: schema.default });
    } else if ((schema.maxLength || 0) > 500) {
      input = h("textarea", { name: path, required: needed, maxlength: schema.maxLength, rows: 4 });
    } else {
      input = h("input", { name: path, required: needed, maxlength: schema.maxLength, placeholder: schema.default });
    }
    const checkbox = input.type === "checkbox";
    return {
      node: labelled(name, schema, input, needed, checkbox ? "check" : input.tagName === "TEXTAREA" ? "wide" : ""),
      read() {
        if (checkbox) return input.checked;
        const v = input.value.trim();
        if (v === "") return undefined;
        if (schema.type === "boolean") return v === "true";
        if (numeric) return Number(v);
        if (schema.format === "date-time") return new Date(v).toISOString().replace(".000Z", "Z");
        return v;
      },
      set(v) {
        if (checkbox) input.checked = v === true;
        else if (v === undefined || v === null) input.value = "";
        else input.value = schema.format === "date-time" ? localInput(v) : String(v);
      },
      input,
    };
  }

  function list(name, schema, path, needed) {
    const items = schema.items || {};
    if (items.enum) { // a set of choices: one checkbox each
      const boxes = items.enum.map((v) => h("input", { type: "checkbox", name: path, value: v }));
      return {
        node: h("fieldset", { class: "field wide choices", title: hint(schema) }, h("legend", {}, name, needed ? " *" : ""),
          boxes.map((b) => h("label", { class: "check" }, b, b.value))),
        read() {
          const on = boxes.filter((b) => b.checked).map((b) => b.value);
          return on.length || needed ? on : undefined;
        },
        set(v) { for (const b of boxes) b.checked = Array.isArray(v) && v.includes(b.value); },
      };
    }
    if (isPlain(items) && items.type !== "boolean") { // keys, ids: comma-separated
      const one = scalar(name, { type: "string", description: schema.description }, path, needed);
      one.input.placeholder = t("charge_point.field_list");
      return {
        node: one.node,
        read() {
          const text = one.input.value.trim();
          if (!text) return needed ? [] : undefined;
          return text.split(",").map((s) => s.trim()).filter(Boolean)
            .map((s) => (items.type === "string" ? s : Number(s)));
        },
        set(v) { one.input.value = Array.isArray(v) ? v.join(", ") : ""; },
      };
    }
    return json(name, schema, path, needed);
  }

  /** Raw JSON for what no input fits (a list of objects: charging schedules, variables). */
  function json(name, schema, path, needed) {
    const area = h("textarea", { name: path, rows: 5, class: "json", spellcheck: "false", required: needed,
      placeholder: "JSON" });
    return {
      node: labelled(t("charge_point.field_json", { name }), schema, area, needed, "wide"),
      read() {
        const text = area.value.trim();
        if (!text) return undefined;
        try { return JSON.parse(text); } catch (_) { throw new Invalid(area, t("charge_point.invalid_json_field", { field: path })); }
      },
      set(v) { area.value = v === undefined || v === null ? "" : JSON.stringify(v, null, 2); },
    };
  }

  function group(name, schema, path, needed) {
    const required = new Set(schema.required || []);
    const children = Object.entries(schema.properties).filter(([key]) => !SKIP.has(key)).map(([key, sub]) =>
      [key, field(key, sub, path ? `${path}.${key}` : key, needed && required.has(key))]);
    const body = children.map(([, f]) => f.node);
    const node = !path ? h("div", { class: "schema-form" }, body)
      : needed ? h("fieldset", { class: "field wide", title: hint(schema) }, h("legend", {}, name, " *"), h("div", { class: "schema-form" }, body))
        : h("details", { class: "field wide optional", title: hint(schema) }, h("summary", {}, name, h("span", { class: "muted" }, " " + t("charge_point.field_optional"))),
          h("div", { class: "schema-form" }, body));
    return {
      node,
      read() {
        const out = {};
        for (const [key, f] of children) {
          const v = f.read();
          if (v !== undefined) out[key] = v;
        }
        return Object.keys(out).length || needed ? out : undefined;
      },
      set(v) {
        for (const [key, f] of children) f.set(v ? v[key] : undefined);
        if (node.tagName === "DETAILS" && v && Object.keys(v).length) node.open = true;
      },
    };
  }

  /** The form of a request schema: {node, read() (throws Invalid), set(payload)}. */
  function build(schema) {
    const root = group("", { ...schema, properties: schema.properties || {} }, "", true);
    return { node: root.node, read: () => root.read() || {}, set: (v) => root.set(v || {}) };
  }

  return { build, hint, Invalid, localInput };
})();
