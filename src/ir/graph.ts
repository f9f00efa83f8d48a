// The one graph IR. Values know their producer and their uses; every change of links goes through the
// edit methods on Graph, which check first and then mutate, and log an undo step so that a failed
// rewrite inside `transaction` leaves the graph as it was. Every edit costs O(1) plus the links it
// changes, whatever the size of the graph or the number of readers of a value, so that passes over
// graphs of millions of nodes stay linear.
import { Encoded } from './encoded';
import { Tensor } from '../tensor';
import { Attribute } from './attribute';

export interface Use {
  readonly node: Node;
  /** Input slot, or -1 for a read from inside a subgraph attribute. */
  readonly index: number;
}

/** A use as the graph keeps it: it knows its slot in its value's list, so dropping it costs O(1). */
class UseRecord implements Use {
  /** @internal Slot in the value's `_uses`, or -1 once dropped. */
  _at = -1;
  constructor(readonly node: Node, readonly index: number) {}
}

/** What a file said about a value's type (value_info, graph inputs and outputs). */
export interface ValueType {
  readonly elemType?: number;
  readonly dims?: readonly (number | string | undefined)[];
}

export class Value {
  /** @internal */ _producer: Node | null = null;
  /**
   * @internal Uses in the order they were made; a dropped use leaves a hole (null) that the next read of
   * `uses` closes up, so that removing many readers of one value costs O(1) each, not O(readers).
   */
  _uses: (UseRecord | null)[] = [];
  /** @internal Live uses in `_uses`. */
  _live = 0;
  /** @internal Graph output slots holding this value. */
  _outputSlots = 0;
  /** @internal Graph input slots holding this value. */
  _inputSlots = 0;
  /** @internal Its (last) graph input slot, while the inputs have not been compacted since. */
  _inputAt = -1;
  /** @internal */ _name: string;
  /** Set when this value is an initializer. */
  initializer?: Initializer;
  type?: ValueType;

  /**
   * An optional output a node does not produce (written as '' in ONNX). Each is a value of its own,
   * under a name no file can give, that nothing reads and that is not kept in the graph's name table.
   */
  readonly absent: boolean;

  constructor(name: string, options: { absent?: boolean } = {}) {
    this._name = name;
    this.absent = options.absent ?? false;
  }
  get name(): string {
    return this._name;
  }
  get producer(): Node | null {
    return this._producer;
  }
  get uses(): readonly Use[] {
    if (this._uses.length !== this._live) this.compactUses();
    return this._uses as UseRecord[];
  }
  /** How many node inputs (and subgraphs) read this value; O(1). */
  get useCount(): number {
    return this._live;
  }

  /** @internal */
  addUse(u: UseRecord): void {
    u._at = this._uses.length;
    // Most values have one reader: a list of one, not the 17 slots a first push would reserve.
    if (u._at === 0) this._uses = [u];
    else this._uses.push(u);
    this._live++;
  }

  /** @internal */
  dropUse(u: UseRecord): void {
    if (this._uses[u._at] !== u) throw new GraphEditError(`${u.node.label} is not a reader of ${this.name}`);
    this._uses[u._at] = null;
    u._at = -1;
    this._live--;
    // Holes never outnumber live uses by much: the list stays in proportion to what it holds.
    if (this._uses.length > 2 * this._live + 16) this.compactUses();
  }

  private compactUses(): void {
    const live: UseRecord[] = [];
    for (const u of this._uses) {
      if (!u) continue;
      u._at = live.length;
      live.push(u);
    }
    this._uses = live;
  }
}

export interface Initializer {
  readonly tensor: Tensor;
  /** The tensor as read; written back verbatim while the tensor is unchanged. */
  readonly raw?: Encoded;
  /** Fields to keep when the tensor is re-encoded (doc_string, metadata_props, unknown ones). */
  readonly keep?: readonly Encoded[];
}

export interface NodeSpec {
  readonly opType: string;
  readonly domain?: string;
  readonly name?: string;
  readonly inputs: readonly (Value | null)[];
  /** Names for new output values; '' for an optional output left out. */
  readonly outputs: readonly string[];
  readonly attributes?: readonly Attribute[];
}

const NO_ATTRIBUTES: ReadonlyMap<string, Attribute> = new Map();
// Shared by the nodes that capture nothing (most): never written to.
const NONE: Value[] = [];
const NONE_USED: UseRecord[] = [];

export class Node {
  /** @internal */ _inputs: (Value | null)[] = [];
  /** @internal The use each input slot makes of its value (null for an empty slot). */
  _inputUses: (UseRecord | null)[] = [];
  /** @internal */ _outputs: Value[] = [];
  /** @internal */ _captures: Value[] = [];
  /** @internal The use each capture makes of its value. */
  _captureUses: UseRecord[] = [];
  /** @internal */ _graph: Graph | null = null;
  /** @internal Neighbours in the graph's order. */
  _prev: Node | null = null;
  /** @internal */ _next: Node | null = null;
  /** @internal Position in the graph's order, valid while the graph's order is unchanged. */
  _position = -1;
  readonly attributes: ReadonlyMap<string, Attribute>;
  /** Set when inputs or outputs changed since reading: the node must be re-encoded. */
  dirty = false;
  /** The node as read, for writing back while it is not dirty. */
  raw?: Encoded;

  constructor(
    readonly opType: string,
    readonly domain: string,
    readonly name: string,
    attributes: readonly Attribute[],
  ) {
    this.attributes = attributes.length ? new Map(attributes.map((a) => [a.name, a])) : NO_ATTRIBUTES;
  }
  get inputs(): readonly (Value | null)[] {
    return this._inputs;
  }
  get outputs(): readonly Value[] {
    return this._outputs;
  }
  get graph(): Graph | null {
    return this._graph;
  }
  input(i: number): Value {
    const v = this._inputs[i];
    if (!v) throw new RangeError(`${this.label} has no input ${i}`);
    return v;
  }
  get label(): string {
    return `${this.opType} ${this.name || '(unnamed)'}`;
  }
}

export class GraphEditError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphEditError';
  }
}

type Undo = () => void;

/**
 * Nodes are kept in a doubly linked list (insert before, remove: O(1)); `nodes` is an array made from it
 * when asked for after a change, which also numbers the nodes for `position`. Graph inputs are kept the
 * same way as uses: a removed one leaves a hole until `inputs` is read.
 */
export class Graph {
  private first: Node | null = null;
  private last: Node | null = null;
  private count = 0;
  private order: Node[] | null = [];
  private readonly _values = new Map<string, Value>();
  private absentCount = 0;
  /** Per base name, the suffix freshName tried last. */
  private readonly suffixes = new Map<string, number>();
  /** @internal */ _inputs: (Value | null)[] = [];
  private inputHoles = 0;
  /** @internal */ readonly _outputs: Value[] = [];
  private undoLog: Undo[] | null = null;

  /** The nodes in order. The array is the graph's until the next edit: copy it to keep it past one. */
  get nodes(): readonly Node[] {
    if (!this.order) {
      const order: Node[] = new Array(this.count);
      let i = 0;
      for (let n = this.first; n; n = n._next) {
        n._position = i;
        order[i++] = n;
      }
      this.order = order;
    }
    return this.order;
  }
  /** The node after `node` in the order, or null (O(1)). */
  nextNode(node: Node): Node | null {
    if (node._graph !== this) throw new GraphEditError(`${node.label} is not in this graph`);
    return node._next;
  }
  /** Where a node stands in `nodes` (O(1) while the order is unchanged); -1 if it is not in this graph. */
  position(node: Node): number {
    if (node._graph !== this) return -1;
    if (!this.order) this.nodes;
    return node._position;
  }
  get inputs(): readonly Value[] {
    // Inside a transaction the holes stay where they are, so that an undo can fill them in place.
    if (this.inputHoles && this.undoLog) return this._inputs.filter((v): v is Value => v !== null);
    if (this.inputHoles) {
      const inputs: Value[] = [];
      for (const v of this._inputs) {
        if (!v) continue;
        v._inputAt = inputs.length;
        inputs.push(v);
      }
      this._inputs = inputs;
      this.inputHoles = 0;
    }
    return this._inputs as Value[];
  }
  get outputs(): readonly Value[] {
    return this._outputs;
  }
  value(name: string): Value | undefined {
    return this._values.get(name);
  }
  /** Named values (absent outputs are not). */
  get valueCount(): number {
    return this._values.size;
  }
  get values(): IterableIterator<Value> {
    return this._values.values();
  }
  initializers(): Value[] {
    return [...this._values.values()].filter((v) => v.initializer);
  }
  isGraphOutput(v: Value): boolean {
    return v._outputSlots > 0;
  }
  isGraphInput(v: Value): boolean {
    return v._inputSlots > 0;
  }

  // ---- building (used by readers) ----

  /** A placeholder for an output left out ('' in ONNX): two nodes may both leave theirs out. */
  absentValue(): Value {
    return new Value(`\u0000absent ${++this.absentCount}`, { absent: true });
  }

  /** The value of that name, created when new. */
  ensureValue(name: string): Value {
    let v = this._values.get(name);
    if (!v) {
      v = new Value(name);
      this._values.set(name, v);
      if (this.undoLog) this.log(() => this._values.delete(name));
    }
    return v;
  }

  addGraphInput(v: Value): void {
    v._inputAt = this._inputs.length;
    this._inputs.push(v);
    v._inputSlots++;
  }
  addGraphOutput(v: Value): void {
    this._outputs.push(v);
    v._outputSlots++;
  }

  /** Appends a node read from a file; outputs are values that must not have a producer yet. */
  appendNode(node: Node, inputs: readonly (Value | null)[], outputs: readonly Value[], captures: readonly Value[] = []): void {
    for (const o of outputs) {
      if (o._producer) throw new GraphEditError(`value ${o.name} is produced twice (${o._producer.label} and ${node.label})`);
    }
    this.attach(node, inputs, outputs, captures);
    this.link(node, null);
  }

  /** Gives a new node its links (uses, producers); not yet in the order. */
  private attach(node: Node, inputs: readonly (Value | null)[], outputs: readonly Value[], captures: readonly Value[]): void {
    node._graph = this;
    node._inputs = [...inputs];
    node._outputs = [...outputs];
    node._captures = captures.length ? [...captures] : NONE;
    node._inputUses = inputs.map((v, i) => {
      if (!v) return null;
      const u = new UseRecord(node, i);
      v.addUse(u);
      return u;
    });
    node._captureUses = captures.length
      ? captures.map((v) => {
          const u = new UseRecord(node, -1);
          v.addUse(u);
          return u;
        })
      : NONE_USED;
    for (const o of outputs) o._producer = node;
  }

  /** Drops a node's uses of its inputs and captures (the node keeps its lists, for an undo). */
  private detachUses(node: Node): void {
    node._inputs.forEach((v, i) => v && v.dropUse(node._inputUses[i]!));
    node._captures.forEach((v, i) => v.dropUse(node._captureUses[i]));
  }

  /** Re-adds the uses detachUses dropped. */
  private reattachUses(node: Node): void {
    node._inputs.forEach((v, i) => v && v.addUse(node._inputUses[i]!));
    node._captures.forEach((v, i) => v.addUse(node._captureUses[i]));
  }

  /** Puts a node into the order before `before` (at the end when null). */
  private link(node: Node, before: Node | null): void {
    const prev = before ? before._prev : this.last;
    node._prev = prev;
    node._next = before;
    if (prev) prev._next = node;
    else this.first = node;
    if (before) before._prev = node;
    else this.last = node;
    this.count++;
    this.order = null;
  }

  private unlink(node: Node): void {
    if (node._prev) node._prev._next = node._next;
    else this.first = node._next;
    if (node._next) node._next._prev = node._prev;
    else this.last = node._prev;
    node._prev = node._next = null;
    this.count--;
    this.order = null;
  }

  // ---- editing: each method validates before it mutates, and logs its inverse ----

  /** Runs `fn`; when it throws, every edit it made is undone and the error goes on. */
  transaction<T>(fn: () => T): T {
    if (this.undoLog) return fn();
    this.undoLog = [];
    try {
      const out = fn();
      this.undoLog = null;
      return out;
    } catch (e) {
      const log = this.undoLog ?? [];
      this.undoLog = null;
      for (let i = log.length - 1; i >= 0; i--) log[i]();
      throw e;
    }
  }

  private log(undo: Undo): void {
    this.undoLog?.push(undo);
  }

  /** Creates a node with fresh output values and places it before `before` (or at the end). */
  insertNode(spec: NodeSpec, options: { before?: Node } = {}): Node {
    for (const name of spec.outputs) {
      if (name !== '' && this._values.has(name)) throw new GraphEditError(`a value named ${name} exists already`);
    }
    for (const v of spec.inputs) {
      if (v && this._values.get(v.name) !== v) throw new GraphEditError(`input ${v.name} is not in this graph`);
    }
    const before = options.before ?? null;
    if (before && before._graph !== this) throw new GraphEditError(`${before.label} is not in this graph`);
    const node = new Node(spec.opType, spec.domain ?? '', spec.name ?? '', spec.attributes ?? []);
    node.dirty = true;
    const outputs = spec.outputs.map((n) => (n === '' ? this.absentValue() : this.ensureValue(n)));
    this.attach(node, spec.inputs, outputs, []);
    this.link(node, before);
    this.log(() => {
      this.unlink(node);
      this.detachUses(node);
      outputs.forEach((o) => (o._producer = null));
      node._graph = null;
    });
    return node;
  }

  /** Removes a node whose outputs nobody reads. */
  removeNode(node: Node): void {
    if (node._graph !== this) throw new GraphEditError(`${node.label} is not in this graph`);
    for (const o of node._outputs) {
      if (o._live || o._outputSlots) throw new GraphEditError(`${node.label}: output ${o.name} is still used`);
    }
    const next = node._next;
    this.unlink(node);
    this.detachUses(node);
    for (const o of node._outputs) {
      o._producer = null;
      if (!o.absent) this._values.delete(o.name);
    }
    node._graph = null;
    this.log(() => {
      node._graph = this;
      for (const o of node._outputs) {
        o._producer = node;
        if (!o.absent) this._values.set(o.name, o);
      }
      this.reattachUses(node);
      // Undone in reverse order, so the node that followed it is where it was.
      this.link(node, next);
    });
  }

  /** Points every reader of `from` (nodes and graph outputs) at `to`. */
  replaceAllUses(from: Value, to: Value): void {
    if (from === to) return;
    if (this._values.get(to.name) !== to) throw new GraphEditError(`${to.name} is not in this graph`);
    const uses = from.uses as UseRecord[];
    if (uses.some((u) => u.index < 0)) throw new GraphEditError(`${from.name} is read inside a subgraph`);
    const outSlots = from._outputSlots ? this._outputs.flatMap((v, i) => (v === from ? [i] : [])) : [];
    for (const u of uses) {
      u.node._inputs[u.index] = to;
      u.node.dirty = true;
      to.addUse(u);
    }
    from._uses = [];
    from._live = 0;
    for (const i of outSlots) this._outputs[i] = to;
    from._outputSlots -= outSlots.length;
    to._outputSlots += outSlots.length;
    this.log(() => {
      for (const u of uses) {
        to.dropUse(u);
        u.node._inputs[u.index] = from;
        from.addUse(u);
      }
      for (const i of outSlots) this._outputs[i] = from;
      from._outputSlots += outSlots.length;
      to._outputSlots -= outSlots.length;
    });
  }

  /** Points one input slot of a node at another value. */
  setInput(node: Node, index: number, v: Value | null): void {
    if (node._graph !== this) throw new GraphEditError(`${node.label} is not in this graph`);
    if (index < 0 || index >= node._inputs.length) throw new GraphEditError(`${node.label} has no input ${index}`);
    if (v && this._values.get(v.name) !== v) throw new GraphEditError(`${v.name} is not in this graph`);
    const old = node._inputs[index];
    const oldUse = node._inputUses[index];
    const wasDirty = node.dirty;
    if (old && oldUse) old.dropUse(oldUse);
    const use = v ? new UseRecord(node, index) : null;
    node._inputs[index] = v;
    node._inputUses[index] = use;
    if (v && use) v.addUse(use);
    node.dirty = true;
    this.log(() => {
      if (v && use) v.dropUse(use);
      node._inputs[index] = old;
      node._inputUses[index] = oldUse;
      if (old && oldUse) old.addUse(oldUse);
      node.dirty = wasDirty;
    });
  }

  /** Makes `to` the graph output that `from` was (nodes reading `from` are not touched). */
  replaceGraphOutput(from: Value, to: Value): void {
    const at = from._outputSlots ? this._outputs.indexOf(from) : -1;
    if (at < 0) throw new GraphEditError(`${from.name} is not a graph output`);
    if (this._values.get(to.name) !== to) throw new GraphEditError(`${to.name} is not in this graph`);
    this._outputs[at] = to;
    from._outputSlots--;
    to._outputSlots++;
    this.log(() => {
      this._outputs[at] = from;
      from._outputSlots++;
      to._outputSlots--;
    });
  }

  /** Swaps an initializer's tensor (e.g. for another dtype); the value keeps its name and readers. */
  replaceInitializer(v: Value, init: Initializer): void {
    if (!v.initializer || this._values.get(v.name) !== v) throw new GraphEditError(`${v.name} is not an initializer of this graph`);
    const old = v.initializer;
    v.initializer = init;
    this.log(() => (v.initializer = old));
  }

  /** Gives a value a new name; the name must be free. */
  renameValue(v: Value, name: string): void {
    if (this._values.get(v.name) !== v) throw new GraphEditError(`${v.name} is not in this graph`);
    if (v.name === name) return;
    if (this._values.has(name)) throw new GraphEditError(`a value named ${name} exists already`);
    const old = v._name;
    this._values.delete(old);
    v._name = name;
    this._values.set(name, v);
    const touched = [v._producer, ...v.uses.map((u) => u.node)].filter((n): n is Node => !!n);
    const wasDirty = touched.map((n) => n.dirty);
    touched.forEach((n) => (n.dirty = true));
    this.log(() => {
      this._values.delete(name);
      v._name = old;
      this._values.set(old, v);
      touched.forEach((n, i) => (n.dirty = wasDirty[i]));
    });
  }

  addInitializer(name: string, init: Initializer): Value {
    if (this._values.has(name)) throw new GraphEditError(`a value named ${name} exists already`);
    const v = this.ensureValue(name);
    v.initializer = init;
    return v;
  }

  /** Drops an initializer nobody reads (and its graph-input entries, as old exporters listed them). */
  removeInitializer(v: Value): void {
    if (!v.initializer) throw new GraphEditError(`${v.name} is not an initializer`);
    if (v._live || v._outputSlots) throw new GraphEditError(`initializer ${v.name} is still used`);
    const slots: number[] = [];
    if (v._inputSlots === 1 && this._inputs[v._inputAt] === v) slots.push(v._inputAt);
    else if (v._inputSlots) this._inputs.forEach((x, i) => x === v && slots.push(i));
    if (slots.length) {
      for (const i of slots) this._inputs[i] = null;
      this.inputHoles += slots.length;
      v._inputSlots = 0;
    }
    this._values.delete(v.name);
    this.log(() => {
      this._values.set(v.name, v);
      for (const i of slots) this._inputs[i] = v;
      this.inputHoles -= slots.length;
      v._inputSlots = slots.length;
    });
  }

  /** Reorders nodes (toposort); the set must be the same. */
  setOrder(order: readonly Node[]): void {
    const seen = new Set<Node>();
    for (const n of order) {
      if (n._graph !== this || seen.has(n)) throw new GraphEditError('a new order must hold the same nodes');
      seen.add(n);
    }
    if (order.length !== this.count) throw new GraphEditError('a new order must hold the same nodes');
    const before = [...this.nodes];
    this.relink(order);
    this.log(() => this.relink(before));
  }

  private relink(order: readonly Node[]): void {
    let prev: Node | null = null;
    for (const n of order) {
      n._prev = prev;
      n._next = null;
      if (prev) prev._next = n;
      prev = n;
    }
    this.first = order[0] ?? null;
    this.last = prev;
    this.order = null;
  }

  /** A free name starting with `base`. */
  freshName(base: string): string {
    if (!this._values.has(base)) return base;
    // Names a file gave (x_1, x_2, ...) are skipped once, not on every call.
    for (let i = (this.suffixes.get(base) ?? 0) + 1; ; i++) {
      if (!this._values.has(`${base}_${i}`)) {
        this.suffixes.set(base, i);
        return `${base}_${i}`;
      }
    }
  }
}
