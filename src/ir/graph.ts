// The one graph IR. Values know their producer and their uses; every change of links goes through the
// edit methods on Graph, which check first and then mutate, and log an undo step so that a failed
// rewrite inside `transaction` leaves the graph as it was.
import { Part } from '../formats/protobuf/writer';
import { Tensor } from '../tensor';
import { Attribute } from './attribute';

export interface Use {
  readonly node: Node;
  /** Input slot, or -1 for a read from inside a subgraph attribute. */
  readonly index: number;
}

/** What a file said about a value's type (value_info, graph inputs and outputs). */
export interface ValueType {
  readonly elemType?: number;
  readonly dims?: readonly (number | string | undefined)[];
}

export class Value {
  /** @internal */ _producer: Node | null = null;
  /** @internal */ _uses: Use[] = [];
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
    return this._uses;
  }
}

export interface Initializer {
  readonly tensor: Tensor;
  /** The TensorProto as read; written back verbatim while the tensor is unchanged. */
  readonly raw?: Part;
  /** Fields to keep when the TensorProto is re-encoded (doc_string, metadata_props, unknown ones). */
  readonly keep?: readonly Part[];
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

export class Node {
  /** @internal */ _inputs: (Value | null)[] = [];
  /** @internal */ _outputs: Value[] = [];
  /** @internal */ _captures: Value[] = [];
  /** @internal */ _graph: Graph | null = null;
  readonly attributes: ReadonlyMap<string, Attribute>;
  /** Set when inputs or outputs changed since reading: the node must be re-encoded. */
  dirty = false;
  /** The NodeProto as read (body without its framing, and its fields in order), for writing back. */
  raw?: { readonly body: Part; readonly fields: readonly { no: number; part: Part }[] };

  constructor(
    readonly opType: string,
    readonly domain: string,
    readonly name: string,
    attributes: readonly Attribute[],
  ) {
    this.attributes = new Map(attributes.map((a) => [a.name, a]));
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

export class Graph {
  private readonly _nodes: Node[] = [];
  private readonly _values = new Map<string, Value>();
  private absentCount = 0;
  /** @internal */ readonly _inputs: Value[] = [];
  /** @internal */ readonly _outputs: Value[] = [];
  private undoLog: Undo[] | null = null;

  get nodes(): readonly Node[] {
    return this._nodes;
  }
  get inputs(): readonly Value[] {
    return this._inputs;
  }
  get outputs(): readonly Value[] {
    return this._outputs;
  }
  value(name: string): Value | undefined {
    return this._values.get(name);
  }
  get values(): IterableIterator<Value> {
    return this._values.values();
  }
  initializers(): Value[] {
    return [...this._values.values()].filter((v) => v.initializer);
  }
  isGraphOutput(v: Value): boolean {
    return this._outputs.includes(v);
  }

  // ---- building (used by readers) ----

  /** The value of that name, created when new. */
  /** A placeholder for an output left out ('' in ONNX): two nodes may both leave theirs out. */
  absentValue(): Value {
    return new Value(`\u0000absent ${++this.absentCount}`, { absent: true });
  }

  ensureValue(name: string): Value {
    let v = this._values.get(name);
    if (!v) {
      v = new Value(name);
      this._values.set(name, v);
      this.log(() => this._values.delete(name));
    }
    return v;
  }

  addGraphInput(v: Value): void {
    this._inputs.push(v);
  }
  addGraphOutput(v: Value): void {
    this._outputs.push(v);
  }

  /** Appends a node read from a file; outputs are values that must not have a producer yet. */
  appendNode(node: Node, inputs: readonly (Value | null)[], outputs: readonly Value[], captures: readonly Value[] = []): void {
    for (const o of outputs) {
      if (o._producer) throw new GraphEditError(`value ${o.name} is produced twice (${o._producer.label} and ${node.label})`);
    }
    node._graph = this;
    node._inputs = [...inputs];
    node._outputs = [...outputs];
    node._captures = [...captures];
    inputs.forEach((v, i) => v?._uses.push({ node, index: i }));
    captures.forEach((v) => v._uses.push({ node, index: -1 }));
    outputs.forEach((o) => (o._producer = node));
    this._nodes.push(node);
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
    let at = this._nodes.length;
    if (options.before) {
      at = this._nodes.indexOf(options.before);
      if (at < 0) throw new GraphEditError(`${options.before.label} is not in this graph`);
    }
    const node = new Node(spec.opType, spec.domain ?? '', spec.name ?? '', spec.attributes ?? []);
    node.dirty = true;
    const outputs = spec.outputs.map((n) => (n === '' ? this.absentValue() : this.ensureValue(n)));
    this.appendNode(node, spec.inputs, outputs);
    this._nodes.pop();
    this._nodes.splice(at, 0, node);
    this.log(() => {
      this._nodes.splice(this._nodes.indexOf(node), 1);
      spec.inputs.forEach((v) => v && (v._uses = v._uses.filter((u) => u.node !== node)));
      outputs.forEach((o) => (o._producer = null));
      node._graph = null;
    });
    return node;
  }

  /** Removes a node whose outputs nobody reads. */
  removeNode(node: Node): void {
    const at = this._nodes.indexOf(node);
    if (at < 0) throw new GraphEditError(`${node.label} is not in this graph`);
    for (const o of node._outputs) {
      if (o._uses.length || this._outputs.includes(o)) throw new GraphEditError(`${node.label}: output ${o.name} is still used`);
    }
    this._nodes.splice(at, 1);
    const readers = [...new Set([...node._inputs, ...node._captures])].filter((v): v is Value => !!v);
    const removed = readers.map((v) => v._uses.filter((u) => u.node === node));
    readers.forEach((v) => (v._uses = v._uses.filter((u) => u.node !== node)));
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
      readers.forEach((v, i) => v._uses.push(...removed[i]));
      this._nodes.splice(at, 0, node);
    });
  }

  /** Points every reader of `from` (nodes and graph outputs) at `to`. */
  replaceAllUses(from: Value, to: Value): void {
    if (from === to) return;
    if (this._values.get(to.name) !== to) throw new GraphEditError(`${to.name} is not in this graph`);
    const uses = [...from._uses];
    if (uses.some((u) => u.index < 0)) throw new GraphEditError(`${from.name} is read inside a subgraph`);
    const outSlots = this._outputs.map((v, i) => (v === from ? i : -1)).filter((i) => i >= 0);
    for (const u of uses) {
      u.node._inputs[u.index] = to;
      u.node.dirty = true;
    }
    to._uses.push(...uses);
    from._uses = [];
    for (const i of outSlots) this._outputs[i] = to;
    this.log(() => {
      for (const u of uses) u.node._inputs[u.index] = from;
      to._uses = to._uses.filter((u) => !uses.includes(u));
      from._uses = uses;
      for (const i of outSlots) this._outputs[i] = from;
    });
  }

  /** Points one input slot of a node at another value. */
  setInput(node: Node, index: number, v: Value | null): void {
    if (node._graph !== this) throw new GraphEditError(`${node.label} is not in this graph`);
    if (index < 0 || index >= node._inputs.length) throw new GraphEditError(`${node.label} has no input ${index}`);
    if (v && this._values.get(v.name) !== v) throw new GraphEditError(`${v.name} is not in this graph`);
    const old = node._inputs[index];
    const wasDirty = node.dirty;
    if (old) old._uses = old._uses.filter((u) => !(u.node === node && u.index === index));
    node._inputs[index] = v;
    v?._uses.push({ node, index });
    node.dirty = true;
    this.log(() => {
      if (v) v._uses = v._uses.filter((u) => !(u.node === node && u.index === index));
      node._inputs[index] = old;
      old?._uses.push({ node, index });
      node.dirty = wasDirty;
    });
  }

  /** Makes `to` the graph output that `from` was (nodes reading `from` are not touched). */
  replaceGraphOutput(from: Value, to: Value): void {
    const at = this._outputs.indexOf(from);
    if (at < 0) throw new GraphEditError(`${from.name} is not a graph output`);
    if (this._values.get(to.name) !== to) throw new GraphEditError(`${to.name} is not in this graph`);
    this._outputs[at] = to;
    this.log(() => (this._outputs[at] = from));
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
    const touched = [v._producer, ...v._uses.map((u) => u.node)].filter((n): n is Node => !!n);
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

  /** Drops an initializer nobody reads (and its graph-input entry, as old exporters listed them). */
  removeInitializer(v: Value): void {
    if (!v.initializer) throw new GraphEditError(`${v.name} is not an initializer`);
    if (v._uses.length || this._outputs.includes(v)) throw new GraphEditError(`initializer ${v.name} is still used`);
    const inputAt = this._inputs.indexOf(v);
    if (inputAt >= 0) this._inputs.splice(inputAt, 1);
    this._values.delete(v.name);
    this.log(() => {
      this._values.set(v.name, v);
      if (inputAt >= 0) this._inputs.splice(inputAt, 0, v);
    });
  }

  /** Reorders nodes (toposort); the set must be the same. */
  setOrder(order: readonly Node[]): void {
    if (order.length !== this._nodes.length || order.some((n) => n._graph !== this)) {
      throw new GraphEditError('a new order must hold the same nodes');
    }
    const before = [...this._nodes];
    this._nodes.splice(0, this._nodes.length, ...order);
    this.log(() => this._nodes.splice(0, this._nodes.length, ...before));
  }

  /** A free name starting with `base`. */
  freshName(base: string): string {
    if (!this._values.has(base)) return base;
    for (let i = 1; ; i++) if (!this._values.has(`${base}_${i}`)) return `${base}_${i}`;
  }
}
