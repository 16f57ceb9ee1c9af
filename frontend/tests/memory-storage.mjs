// A stand-in for the browser's sessionStorage (node has none), shared by the client tests.
export class MemoryStorage {
  items = new Map();
  getItem(key) {
    return this.items.get(key) ?? null;
  }
  setItem(key, value) {
    this.items.set(key, String(value));
  }
}
