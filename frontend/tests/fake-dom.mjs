// Just enough of the DOM (node has none) for the progress element's glue: elements with
// attributes, children, textContent, hidden, classList; a document that makes them; a
// custom element registry. What a real browser does with the element is checked in Chromium.

class FakeNode {
  constructor(ownerDocument) {
    this.ownerDocument = ownerDocument;
    this.parentNode = null;
  }
}

export class FakeText extends FakeNode {
  constructor(ownerDocument, text) {
    super(ownerDocument);
    this.data = String(text);
  }
  get textContent() {
    return this.data;
  }
}

export class FakeElement extends FakeNode {
  constructor(tagName = "div", ownerDocument = null) {
    super(ownerDocument);
    this.tagName = tagName.toUpperCase();
    this.attributes = new Map();
    this.childNodes = [];
    this.hidden = false;
    this.isConnected = false;
    const classes = new Set();
    this.classList = {
      add: (...names) => names.forEach((name) => classes.add(name)),
      remove: (...names) => names.forEach((name) => classes.delete(name)),
      contains: (name) => classes.has(name),
    };
    Object.defineProperty(this, "className", {
      get: () => [...classes].join(" "),
      set: (value) => {
        classes.clear();
        String(value).split(/\s+/).filter(Boolean).forEach((name) => classes.add(name));
      },
    });
  }
  getAttribute(name) {
    return this.attributes.has(name) ? this.attributes.get(name) : null;
  }
  hasAttribute(name) {
    return this.attributes.has(name);
  }
  setAttribute(name, value) {
    const previous = this.getAttribute(name);
    this.attributes.set(name, String(value));
    this.#changed(name, previous, String(value));
  }
  removeAttribute(name) {
    const previous = this.getAttribute(name);
    this.attributes.delete(name);
    if (previous !== null) this.#changed(name, previous, null);
  }
  #changed(name, previous, value) {
    // As a browser does: only for the attributes the element's class observes.
    if (this.constructor.observedAttributes?.includes(name)) {
      this.attributeChangedCallback?.(name, previous, value);
    }
  }
  append(...nodes) {
    for (const node of nodes) {
      const child = typeof node === "string" ? new FakeText(this.ownerDocument, node) : node;
      child.parentNode = this;
      this.childNodes.push(child);
    }
  }
  replaceChildren(...nodes) {
    this.childNodes = [];
    this.append(...nodes);
  }
  get children() {
    return this.childNodes.filter((node) => node instanceof FakeElement);
  }
  get textContent() {
    return this.childNodes.map((node) => node.textContent).join("");
  }
  set textContent(value) {
    this.childNodes = [];
    if (value !== "" && value !== null && value !== undefined) this.append(String(value));
  }
  /** The first descendant with this class (the only selector the tests need). */
  find(className) {
    for (const child of this.children) {
      if (child.classList.contains(className)) return child;
      const found = child.find(className);
      if (found) return found;
    }
    return null;
  }
}

export class FakeDocument {
  createElement(tag) {
    return new FakeElement(tag, this);
  }
  createTextNode(text) {
    return new FakeText(this, text);
  }
}

export class FakeRegistry {
  defined = new Map();
  get(name) {
    return this.defined.get(name);
  }
  define(name, constructor) {
    if (this.defined.has(name)) throw new Error(`${name} is already defined`);
    this.defined.set(name, constructor);
  }
}

/** Put the fakes on globalThis (before the element's module is imported). */
export function installFakeDom() {
  const document = new FakeDocument();
  globalThis.HTMLElement = class extends FakeElement {
    constructor() {
      super("taskgate-progress", document);
    }
  };
  globalThis.document = document;
  return document;
}

/** Connect a custom element as the browser would (it is put in the page). */
export function connect(element) {
  element.isConnected = true;
  element.connectedCallback?.();
}

export function disconnect(element) {
  element.isConnected = false;
  element.disconnectedCallback?.();
}
