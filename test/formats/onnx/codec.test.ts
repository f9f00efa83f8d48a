// The ONNX codec: byte-identical round trips, and nothing lost on what a conversion does not rewrite.
import * as fs from 'fs';
import * as path from 'path';
import { convert } from '../../../src/api/convert';
import { BufferSource, FileSource } from '../../../src/formats/bytes';
import { GraphField, ModelField, NodeField } from '../../../src/formats/onnx/fields';
import { readOnnx } from '../../../src/formats/onnx/read';
import { writeOnnx } from '../../../src/formats/onnx/write';
import { Field, ProtoReader, Wire } from '../../../src/formats/protobuf/reader';
import { Message, concat, leaves } from '../../../src/formats/protobuf/writer';
import { ONNX_CASES, caseDir, tempDir } from '../../helpers/fixtures';

const UNKNOWN = 99; // a field number no ONNX message uses: stands for fields newer than the schema

function entry(k: string, v: string): Message {
  return new Message().stringField(1, k).stringField(2, v);
}

function flatten(m: Message): Uint8Array {
  return concat(...[...leaves(m)].map((p) => p as Uint8Array));
}

/** Rebuilds a fixture as an IR-10 model with metadata, doc strings and unknown fields everywhere. */
function decorate(src: string): Uint8Array {
  const bytes = new Uint8Array(fs.readFileSync(src));
  const r = new ProtoReader(new BufferSource('src', bytes));
  const raw = (f: Field) => bytes.subarray(f.start, f.end);
  const model = new Message();
  for (const f of r.fields(0, bytes.length)) {
    if (f.no === ModelField.irVersion) model.varintField(ModelField.irVersion, 10);
    else if (f.no !== ModelField.graph) model.add(raw(f));
    else {
      const graph = new Message();
      for (const g of r.fields(f.valueStart, f.end)) {
        if (g.no !== GraphField.node) {
          graph.add(raw(g));
          continue;
        }
        const node = new Message();
        for (const n of r.fields(g.valueStart, g.end)) node.add(raw(n));
        const name = r.string(r.fields(g.valueStart, g.end).find((n) => n.no === NodeField.name)!);
        node.stringField(NodeField.docString, `doc of ${name}`);
        node.bytesField(NodeField.metadataProps, entry('source', name));
        node.varintField(UNKNOWN, 7);
        graph.bytesField(GraphField.node, node);
      }
      graph.bytesField(GraphField.metadataProps, entry('graph-key', 'graph-value'));
      graph.varintField(UNKNOWN, 8);
      model.bytesField(ModelField.graph, graph);
    }
  }
  model.stringField(ModelField.docString, 'model doc');
  model.bytesField(ModelField.metadataProps, entry('model-key', 'model-value'));
  model.varintField(UNKNOWN, 9);
  return flatten(model);
}

interface NodeFacts {
  opType: string;
  doc?: string;
  meta: string[];
  unknown: number[];
}

function facts(file: string) {
  const src = new FileSource(file);
  try {
    const r = new ProtoReader(src);
    const top = r.fields(0, src.length);
    const str = (f: Field) => r.string(f);
    const entries = (fs2: Field[], no: number) => fs2.filter((f) => f.no === no).map((f) => r.fields(f.valueStart, f.end).map(str).join('='));
    const g = top.find((f) => f.no === ModelField.graph)!;
    const gf = r.fields(g.valueStart, g.end);
    const nodes = new Map<string, NodeFacts>();
    for (const f of gf.filter((x) => x.no === GraphField.node)) {
      const nf = r.fields(f.valueStart, f.end);
      const get = (no: number) => nf.find((x) => x.no === no);
      nodes.set(str(get(NodeField.name)!), {
        opType: str(get(NodeField.opType)!),
        doc: get(NodeField.docString) && str(get(NodeField.docString)!),
        meta: entries(nf, NodeField.metadataProps),
        unknown: nf.filter((x) => x.no === UNKNOWN && x.wire === Wire.Varint).map((x) => Number(x.value)),
      });
    }
    return {
      ir: Number(top.find((f) => f.no === ModelField.irVersion)!.value),
      doc: str(top.find((f) => f.no === ModelField.docString)!),
      meta: entries(top, ModelField.metadataProps),
      unknown: top.filter((f) => f.no === UNKNOWN).map((f) => Number(f.value)),
      graphMeta: entries(gf, GraphField.metadataProps),
      graphUnknown: gf.filter((f) => f.no === UNKNOWN).map((f) => Number(f.value)),
      nodes,
    };
  } finally {
    src.close();
  }
}

describe('ONNX codec', () => {
  const dir = tempDir();
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test.each(ONNX_CASES)('%s: read + write is byte-identical', (c) => {
    for (const f of ['train.onnx', 'deploy_ref.onnx']) {
      const src = path.join(caseDir(c), f);
      const out = path.join(dir, `${c}-${f}`);
      const m = readOnnx(src);
      writeOnnx(out, m);
      m.close();
      expect(Buffer.compare(fs.readFileSync(src), fs.readFileSync(out))).toBe(0);
    }
  });

  test('conversion keeps IR-10 metadata, doc strings and unknown fields on every node it does not rewrite', async () => {
    const src = path.join(dir, 'decorated.onnx');
    fs.writeFileSync(src, decorate(path.join(caseDir('detect-bn'), 'train.onnx')));
    const out = path.join(dir, 'decorated-deploy.onnx');
    const res = await convert(src, out);
    expect(res.verify?.ok).toBe(true);
    const before = facts(src);
    const after = facts(out);
    expect(after.ir).toBe(10);
    expect(after.doc).toBe('model doc');
    // Every output adds its own stamp (provenance.ts) after the metadata it keeps.
    expect(after.meta[0]).toBe('model-key=model-value');
    expect(after.meta.slice(1).map((m: string) => m.split('=')[0])).toEqual(['repvgg-convert']);
    expect(after.unknown).toEqual([9]);
    expect(after.graphMeta).toEqual(['graph-key=graph-value']);
    expect(after.graphUnknown).toEqual([8]);
    let kept = 0;
    for (const [name, n] of after.nodes) {
      const old = before.nodes.get(name);
      if (!old || old.opType !== n.opType || n.opType === 'Conv') continue; // rewritten
      expect(n).toEqual(old);
      kept++;
    }
    // Relu, Resize, Concat, Constant and the residual Add are untouched.
    expect(kept).toBeGreaterThanOrEqual(12);
  });

  test('a truncated model is refused with the byte where it broke', () => {
    const src = path.join(caseDir('repvgg-bn'), 'train.onnx');
    const cut = path.join(dir, 'cut.onnx');
    fs.writeFileSync(cut, fs.readFileSync(src).subarray(0, 5000));
    expect(() => readOnnx(cut)).toThrow(/cut\.onnx is not an ONNX model \(.* at byte \d+\)/);
  });
});
