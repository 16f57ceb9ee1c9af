// The start form: one field per parameter, built from the job's JSON schema (pydantic's).

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
      if (required.has(name)) input.required = true;
    }
    row.append(label, input);
    if (schema.description) {
      const help = document.createElement("small");
      help.id = `${id}-help`;
      help.textContent = schema.description;
      input.setAttribute("aria-describedby", help.id);
      row.append(help);
    }
    fieldset.append(row);
  }
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
