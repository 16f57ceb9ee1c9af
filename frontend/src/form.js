// The start form: one field per parameter, built from the job's JSON schema (pydantic's).
//
// Required parameters (the schema's `required`) are marked, a refused submit's field errors
// (`invalid_params` details) are shown next to their fields, and descriptions show their
// `code` spans as <code> elements. Server text only ever goes into the page as text nodes.

/**
 * `text` cut into plain and code runs at its backticks (pure): "Runs for `seconds`" gives
 * [{text: "Runs for ", code: false}, {text: "seconds", code: true}]. A backtick without a
 * partner, or an empty pair, stays as it is.
 */
export function splitCode(text) {
  const runs = [];
  const source = String(text ?? "");
  const pattern = /`([^`]+)`/g;
  let at = 0;
  for (const match of source.matchAll(pattern)) {
    if (match.index > at) runs.push({ text: source.slice(at, match.index), code: false });
    runs.push({ text: match[1], code: true });
    at = match.index + match[0].length;
  }
  if (at < source.length) runs.push({ text: source.slice(at), code: false });
  return runs;
}

/** Replace the content of `node` with `text`, its `code` spans as <code> (never as HTML). */
export function setRichText(node, text) {
  const doc = node.ownerDocument ?? document;
  node.replaceChildren(
    ...splitCode(text).map((run) => {
      if (!run.code) return doc.createTextNode(run.text);
      const code = doc.createElement("code");
      code.textContent = run.text;
      return code;
    }),
  );
}

/**
 * `invalid_params` details split by where they are shown (pure): `fields` maps each known
 * field name to its messages ("regions.0" counts for "regions"); `general` keeps the rest
 * ("params", unknown fields, entries without a field) for the form-level error.
 */
export function splitErrors(details, fieldNames) {
  const names = new Set(fieldNames);
  const fields = new Map();
  const general = [];
  for (const item of Array.isArray(details) ? details : []) {
    const field = typeof item?.field === "string" ? item.field : "";
    const name = names.has(field) ? field : field.split(".")[0];
    if (field && field !== "params" && names.has(name)) {
      if (!fields.has(name)) fields.set(name, []);
      fields.get(name).push(String(item.message ?? "invalid"));
    } else {
      general.push(item);
    }
  }
  return { fields, general };
}

function typesOf(schema) {
  if (schema.type) return Array.isArray(schema.type) ? schema.type : [schema.type];
  const options = schema.anyOf ?? schema.oneOf ?? [];
  return options.map((option) => option.type).filter(Boolean);
}

function fieldKind(schema) {
  const types = typesOf(schema);
  if (types.length === 1 && types[0] === "boolean") return "boolean";
  if (types.length === 1 && types[0] === "integer") return "integer";
  if (types.length === 1 && types[0] === "number") return "number";
  if (types.length === 1 && types[0] === "string") return "string";
  if (types.length === 1 && types[0] === "array") return "list"; // comma-separated
  return "any"; // several types: numbers are taken as numbers, anything else as text
}

/** Replace the fields of `fieldset` with those of `paramsSchema`. */
export function renderFields(fieldset, paramsSchema) {
  const legend = fieldset.querySelector("legend");
  fieldset.replaceChildren(...(legend ? [legend] : []));
  const required = new Set(paramsSchema.required ?? []);
  const properties = paramsSchema.properties ?? {};
  if (Object.keys(properties).length === 0) {
    const none = document.createElement("p");
    none.textContent = "This job takes no parameters.";
    fieldset.append(none);
  }
  for (const [name, schema] of Object.entries(properties)) {
    const kind = fieldKind(schema);
    const id = `param-${name}`;
    const row = document.createElement("div");
    row.className = `field field-${kind}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = schema.title ?? name;
    const isRequired = required.has(name) && kind !== "boolean"; // a checkbox always has a value
    if (isRequired) {
      label.append(" ", requiredMark());
      row.classList.add("field-required");
    }
    const input = document.createElement("input");
    input.id = id;
    input.name = name;
    input.dataset.kind = kind;
    if (kind === "boolean") {
      input.type = "checkbox";
      input.checked = Boolean(schema.default);
    } else {
      input.type = kind === "integer" || kind === "number" ? "number" : "text";
      if (kind === "list") input.placeholder = "comma, separated, values";
      if (kind === "integer") input.step = "1";
      if (kind === "number") input.step = "any";
      if (schema.minimum !== undefined) input.min = String(schema.minimum);
      if (schema.maximum !== undefined) input.max = String(schema.maximum);
      if (schema.maxLength !== undefined) input.maxLength = schema.maxLength;
      if (Array.isArray(schema.default)) input.value = schema.default.join(", ");
      else if (schema.default !== undefined && schema.default !== null) {
        input.value = String(schema.default);
      }
      if (isRequired) {
        input.required = true;
        input.setAttribute("aria-required", "true");
      }
    }
    row.append(label, input);
    const error = document.createElement("p");
    error.className = "field-error";
    error.id = `${id}-error`;
    error.hidden = true;
    row.append(error);
    if (schema.description) {
      const help = document.createElement("small");
      help.id = `${id}-help`;
      setRichText(help, schema.description);
      input.setAttribute("aria-describedby", help.id);
      row.append(help);
    }
    input.addEventListener("input", () => clearFieldError(input));
    fieldset.append(row);
  }
  if ([...required].some((name) => properties[name] && fieldKind(properties[name]) !== "boolean")) {
    const note = document.createElement("p");
    note.className = "required-note";
    note.append(requiredMark(), " required");
    fieldset.append(note);
  }
}

function requiredMark() {
  const mark = document.createElement("span");
  mark.className = "required-mark";
  mark.setAttribute("aria-hidden", "true");
  mark.title = "required";
  mark.textContent = "*";
  return mark;
}

function errorNodeOf(input) {
  return input.ownerDocument.getElementById(`${input.id}-error`);
}

function clearFieldError(input) {
  const node = errorNodeOf(input);
  if (node) {
    node.hidden = true;
    node.textContent = "";
  }
  input.removeAttribute("aria-invalid");
  const described = (input.getAttribute("aria-describedby") ?? "")
    .split(/\s+/)
    .filter((token) => token && token !== node?.id);
  if (described.length) input.setAttribute("aria-describedby", described.join(" "));
  else input.removeAttribute("aria-describedby");
}

/** Hide every field error of `fieldset`. */
export function clearFieldErrors(fieldset) {
  for (const input of fieldset.querySelectorAll("input[name]")) clearFieldError(input);
}

/**
 * Show each `invalid_params` detail next to its field (marked aria-invalid, the message in
 * its aria-describedby); returns the details that belong to no field, for the form-level error.
 */
export function showFieldErrors(fieldset, details) {
  const inputs = [...fieldset.querySelectorAll("input[name]")];
  const { fields, general } = splitErrors(details, inputs.map((input) => input.name));
  for (const input of inputs) {
    clearFieldError(input);
    const messages = fields.get(input.name);
    const node = errorNodeOf(input);
    if (!messages || !node) continue;
    node.textContent = messages.join("; ");
    node.hidden = false;
    input.setAttribute("aria-invalid", "true");
    const described = (input.getAttribute("aria-describedby") ?? "").split(/\s+/).filter(Boolean);
    input.setAttribute("aria-describedby", [node.id, ...described].join(" "));
  }
  return general;
}

/** The params object from the fields (empty optional fields are left to their defaults). */
export function readFields(fieldset) {
  const params = {};
  for (const input of fieldset.querySelectorAll("input[name]")) {
    const kind = input.dataset.kind;
    if (kind === "boolean") {
      params[input.name] = input.checked;
      continue;
    }
    const raw = input.value.trim();
    if (raw === "") continue;
    if (kind === "list") {
      params[input.name] = raw.split(",").map((item) => item.trim()).filter(Boolean);
      continue;
    }
    if (kind === "integer" || kind === "number" || (kind === "any" && /^-?\d+(\.\d+)?$/.test(raw))) {
      params[input.name] = Number(raw);
    } else {
      params[input.name] = raw;
    }
  }
  return params;
}
