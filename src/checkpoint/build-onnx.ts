// ONNX models built from checkpoint weights and an inferred architecture: the training-time graph (every
// branch as Conv/BatchNormalization, summed) and the deploy graph (one Conv with bias per block), with
// the op structure PyTorch exports for RepVGG, so that onnxruntime can run one against the other.
import { UserError } from '../errors';
import { Value } from '../ir/graph';
import { OnnxModel } from '../formats/onnx/read';
import { join } from './keys';
import { newOnnxModel, TensorSignature } from '../formats/onnx/build';
import { StateDict } from '../formats/state-dict';
import { Tensor, tensorFromArray, toFloat32 } from '../tensor';
import { ArchBlock, ArchSe, Architecture } from './architecture';
import { TrainBlock } from './blocks';
import { Branch, BnStep, ConvStep, Param, Step } from '../reparam/block';
import { prefixBias } from '../reparam/merge';
import { SCHEMES } from './schemes';
import { GraphBuilder, float, int, int64Tensor, ints } from './onnx-graph';

export const DEFAULT_INPUT_SHAPE: readonly number[] = [1, 3, 224, 224];
export const DEFAULT_OPSET = 13;
const OPSETS = { min: 9, max: 21 };

export interface OnnxBuildOptions {
  /** [N, C, H, W]; N becomes a dynamic 'batch' dim, H and W are fixed (official SE pools over the map width). */
  readonly inputShape?: readonly number[];
  readonly opset?: number;
}

export interface TrainOnnxOptions extends OnnxBuildOptions {
  /** BN epsilon; defaults to the scheme's. */
  readonly bnEps?: number;
}

export function buildTrainOnnx(arch: Architecture, sd: StateDict, options: TrainOnnxOptions = {}): OnnxModel {
  const spec = SCHEMES[arch.scheme];
  const eps = options.bnEps ?? spec.bnEps;
  if (!(Number.isFinite(eps) && eps >= 0)) throw new UserError(`BN eps must be a non-negative number, not ${eps}`, { code: 'BAD_USAGE' });
  if (arch.blocks.every((b) => !b.train)) {
    throw new UserError('every block is already a single conv: the training graph needs the training checkpoint', { code: 'BAD_USAGE' });
  }
  return build(arch, sd.tensors, options, 'train', (g, x, b) => {
    // In a mixed checkpoint, a block already converted is the same single conv in both graphs.
    if (!b.train) return deployConv(g, x, b, spec);
    // The branches in the order the scheme's training forward sums them.
    const parts = b.train.block.branches.map((br) => branchGraph(g, x, br, b, eps));
    return parts.reduce((sum, p) => g.op(`/${b.name}`, 'Add', [sum, p]));
  });
}

/** The deploy graph over converted tensors (convertStateDict's output, or a deploy checkpoint). */
export function buildDeployOnnx(arch: Architecture, deploy: ReadonlyMap<string, Tensor>, options: OnnxBuildOptions = {}): OnnxModel {
  const spec = SCHEMES[arch.scheme];
  return build(arch, deploy, options, 'deploy', (g, x, b) => {
    for (const k of [b.deploy.weight, b.deploy.bias]) {
      if (k && !deploy.has(k)) {
        throw new UserError(`the deploy weights have no '${k}'`, { code: 'BAD_USAGE', hint: 'build the deploy graph from the converted state dict' });
      }
    }
    return deployConv(g, x, b, spec);
  });
}

function deployConv(g: GraphBuilder, x: Value, b: ArchBlock, spec: (typeof SCHEMES)[keyof typeof SCHEMES]): Value {
  const inputs = [x, g.weight(b.deploy.weight), ...(b.deploy.bias ? [g.weight(b.deploy.bias)] : [])];
  return g.op(`/${b.name}/${spec.deploy}`, 'Conv', inputs, convAttrs(b.kernel, b.stride, b.groups));
}

type BlockBody = (g: GraphBuilder, x: Value, b: ArchBlock) => Value;

function build(arch: Architecture, tensors: ReadonlyMap<string, Tensor>, o: OnnxBuildOptions, form: 'train' | 'deploy', body: BlockBody): OnnxModel {
  const spec = SCHEMES[arch.scheme];
  const opset = o.opset ?? DEFAULT_OPSET;
  if (!Number.isInteger(opset) || opset < OPSETS.min || opset > OPSETS.max) {
    throw new UserError(`opset ${opset} is not supported for models built from weights`, { code: 'BAD_USAGE', hint: `use ${OPSETS.min}–${OPSETS.max} (default ${DEFAULT_OPSET})` });
  }
  const shape = o.inputShape ?? DEFAULT_INPUT_SHAPE;
  if (shape.length !== 4 || shape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new UserError(`input shape [${shape.join(', ')}] is not N x C x H x W with positive sizes`, { code: 'BAD_USAGE' });
  }
  if (shape[1] !== arch.inputChannels) {
    throw new UserError(`input shape has ${shape[1]} channels but the stem takes ${arch.inputChannels}`, { code: 'BAD_USAGE' });
  }

  const g = new GraphBuilder(tensors);
  let x = g.input('input');
  let h = shape[2];
  let w = shape[3];
  for (const b of arch.blocks) {
    const [kh, kw] = b.kernel;
    h = Math.floor((h + 2 * (kh >> 1) - kh) / b.stride) + 1;
    w = Math.floor((w + 2 * (kw >> 1) - kw) / b.stride) + 1;
    if (h < 1 || w < 1) throw new UserError(`input ${shape[2]}x${shape[3]} is too small: the map vanishes at '${b.name}'`, { code: 'BAD_USAGE' });
    // The block's sum (train) and its merged conv (deploy) share one value name, as a conversion of an
    // ONNX model keeps it: a check block by block (per-block.ts) compares the two graphs there.
    let y = g.blockEnd(body(g, x, b), b.name);
    if (b.se?.layout.placement === 'before-act') y = squeezeExcite(g, y, b, b.se, h, w);
    y = g.op(`/${b.name}/${spec.act}`, 'Relu', [y]);
    if (b.se?.layout.placement === 'after-act') y = squeezeExcite(g, y, b, b.se, h, w);
    x = y;
  }
  let outDims: (number | string)[];
  if (arch.head) {
    const pooled = g.op('/gap', 'GlobalAveragePool', [x]);
    const flat = g.op('', 'Flatten', [pooled], [int('axis', 1)]);
    const bias = arch.head.bias ? g.weight(arch.head.bias) : g.constant(`${arch.head.weight}_zero_bias`, tensorFromArray([arch.head.classes], new Float32Array(arch.head.classes)));
    const scope = scopeOf('', arch.head.weight.slice(0, -'.weight'.length));
    x = g.op(scope, 'Gemm', [flat, g.weight(arch.head.weight), bias], [float('alpha', 1), float('beta', 1), int('transB', 1)], 'output');
    outDims = ['batch', arch.head.classes];
  } else {
    g.graph.renameValue(x, 'output');
    outDims = ['batch', arch.blocks[arch.blocks.length - 1].outChannels, h, w];
  }
  g.graph.addGraphOutput(x);

  const input: TensorSignature = { name: 'input', elemType: 1, dims: ['batch', shape[1], shape[2], shape[3]] };
  const output: TensorSignature = { name: 'output', elemType: 1, dims: outDims };
  return newOnnxModel(g.graph, {
    graphName: arch.name ?? `repvgg-${arch.scheme}`,
    opset,
    inputs: [input],
    outputs: [output],
    metadata: { scheme: arch.scheme, form, ...(arch.name ? { architecture: arch.name } : {}) },
  });
}

function convAttrs(kernel: readonly [number, number], stride: number, groups: number, pads?: readonly number[], dilation: readonly number[] = [1, 1]) {
  const [kh, kw] = kernel;
  return [
    ints('dilations', [...dilation]),
    int('group', groups),
    ints('kernel_shape', [kh, kw]),
    ints('pads', pads ? [...pads] : [kh >> 1, kw >> 1, kh >> 1, kw >> 1]),
    ints('strides', [stride, stride]),
  ];
}

/** The module a parameter key belongs to: "stage1.0.rbr_dense.conv" of "stage1.0.rbr_dense.conv.weight". */
const moduleOf = (key: string, leaf: string): string => key.slice(0, key.length - leaf.length - 1);

/**
 * One branch of the block model as ONNX ops, the block's stride on its last spatial step (its one conv
 * for a plain branch), nodes named by the modules of their parameters.
 */
function branchGraph(g: GraphBuilder, x: Value, br: Branch, b: ArchBlock, eps: number): Value {
  const spatial = br.steps.map((s, i) => ((s.op === 'conv' && s.weight.tensor.shape[2] * s.weight.tensor.shape[3] > 1) || s.op === 'avgpool' ? i : -1)).filter((i) => i >= 0);
  const strided = spatial.length ? spatial[spatial.length - 1] : br.steps.findIndex((s) => s.op === 'conv');
  const scope = scopeOf(b.name, br.label ? join(b.name, br.label) : b.name);
  let v = x;
  // Channels of the value so far: what per-channel constants are shaped to.
  let channels = b.inChannels;
  br.steps.forEach((s: Step, i) => {
    const stride = i === strided ? b.stride : 1;
    switch (s.op) {
      case 'conv':
        v = convStep(g, v, s, b, stride);
        channels = s.weight.tensor.shape[0];
        break;
      case 'bn':
        v = batchNorm(g, v, s, scopeOf(b.name, moduleOf(s.mean.name, 'running_mean')), channels, eps);
        break;
      case 'avgpool': {
        const [kh, kw] = s.kernel;
        v = g.op(`${scope}/avg`, 'AveragePool', [v], [ints('kernel_shape', [kh, kw]), ints('pads', [...s.pads]), ints('strides', [stride, stride]), int('count_include_pad', s.countIncludePad ? 1 : 0)]);
        break;
      }
      case 'affine':
        if (s.scale) v = g.op(scope, s.invert?.scale ? 'Div' : 'Mul', [v, perChannel(g, s.scale, channels)]);
        if (s.shift) v = g.op(scope, s.invert?.shift ? 'Sub' : 'Add', [v, perChannel(g, s.shift, channels)]);
        break;
      case 'pad': {
        const [t, l, bo, r] = s.pads;
        const pads = g.constant(`${scope.slice(1)}/pads`, int64Tensor([0, 0, t, l, 0, 0, bo, r]));
        if (s.fill === 'zero') v = g.op(scope, 'Pad', [v, pads]);
        else {
          // Filled with what the steps before give for a zero input: shift that to 0, pad, shift back.
          const fill = prefixBias(br.steps.slice(0, i), b.inChannels);
          const c = g.constant(`${scope.slice(1)}/fill`, tensorFromArray([1, fill.length, 1, 1], Float32Array.from(fill)));
          v = g.op(scope, 'Add', [g.op(scope, 'Pad', [g.op(scope, 'Sub', [v, c]), pads]), c]);
        }
        break;
      }
      case 'const':
        v = perChannel(g, s.value, b.outChannels);
        break;
    }
  });
  if (br.steps.length === 0 && b.stride !== 1) throw new Error(`'${b.name}': an identity branch at stride ${b.stride}`);
  return v;
}

/** A per-channel (or single) parameter as a [1, C, 1, 1] constant that broadcasts over a map. */
function perChannel(g: GraphBuilder, p: Param, channels: number): Value {
  const values = toFloat32(p.tensor);
  const c = values.length === 1 ? 1 : channels;
  if (values.length !== c) throw new Error(`'${p.name}' holds ${values.length} values for ${channels} channels`);
  return g.constant(`${p.name}/per_channel`, tensorFromArray([1, c, 1, 1], Float32Array.from(values)));
}

function convStep(g: GraphBuilder, x: Value, s: ConvStep, b: ArchBlock, stride: number): Value {
  const module = moduleOf(s.weight.name, 'weight');
  const k = s.weight.tensor.shape;
  let weight = g.weight(s.weight.name);
  if (s.plusIdentity) {
    // DiverseBranchBlock's identity-based 1x1 stores the kernel less the identity.
    const [o, ipg, kh, kw] = k;
    const ident = new Float32Array(o * ipg * kh * kw);
    for (let c = 0; c < o; c++) ident[((c * ipg + (c % ipg)) * kh + (kh >> 1)) * kw + (kw >> 1)] = 1;
    weight = g.op(`${scopeOf(b.name, module)}`, 'Add', [weight, g.constant(`${s.weight.name}/identity`, tensorFromArray([o, ipg, kh, kw], ident))]);
  }
  const inputs = [x, weight, ...(s.bias ? [g.weight(s.bias.name)] : [])];
  return g.op(`${scopeOf(b.name, module)}`, 'Conv', inputs, convAttrs([k[2], k[3]], stride, b.groups, s.pads, s.dilation));
}

function batchNorm(g: GraphBuilder, x: Value, bn: BnStep, scope: string, channels: number, eps: number): Value {
  const param = (p: BnStep['gamma'], fill: number, name: string) =>
    p ? g.weight(p.name) : g.constant(`${scope.slice(1).replace(/\//g, '.')}.${name}`, tensorFromArray([channels], new Float32Array(channels).fill(fill)));
  const inputs = [x, param(bn.gamma, 1, 'weight'), param(bn.beta, 0, 'bias'), g.weight(bn.mean.name), g.weight(bn.variance.name)];
  return g.op(scope, 'BatchNormalization', inputs, [float('epsilon', eps), float('momentum', 0.9)]);
}

function squeezeExcite(g: GraphBuilder, x: Value, b: ArchBlock, se: ArchSe, h: number, w: number): Value {
  const scope = scopeOf(b.name, se.prefix);
  const channels = b.outChannels;
  let s: Value;
  if (se.layout.pool === 'window') {
    // avg_pool2d(kernel_size = map width): one window only while width <= height < 2 * width.
    if (w > h || h >= 2 * w) {
      throw new UserError(`the SE at '${se.prefix}' pools with a ${w}x${w} window, which does not cover a ${h}x${w} map once`, {
        code: 'BAD_USAGE',
        hint: 'official RepVGG SE models take square inputs',
      });
    }
    s = g.op(scope, 'AveragePool', [x], [ints('kernel_shape', [w, w]), ints('pads', [0, 0, 0, 0]), ints('strides', [w, w])]);
  } else {
    s = g.op(scope, 'GlobalAveragePool', [x]);
  }
  const conv1x1 = (input: Value, c: ArchSe['down'], name: string) =>
    g.op(`${scope}/${name.replace(/\./g, '/')}`, 'Conv', [input, g.weight(c.weight), ...(c.bias ? [g.weight(c.bias)] : [])], convAttrs([1, 1], 1, 1));
  s = conv1x1(s, se.down, se.layout.down);
  s = g.op(scope, 'Relu', [s]);
  s = conv1x1(s, se.up, se.layout.up);
  s = g.op(scope, 'Sigmoid', [s]);
  if (se.layout.pool === 'window') {
    // The official SE reshapes its gate with view(-1, C, 1, 1).
    s = g.op(scope, 'Reshape', [s, g.constant(`${se.prefix}.view_shape`, int64Tensor([-1, channels, 1, 1]))]);
  }
  return g.op(scope, 'Mul', [x, s]);
}

/**
 * One block's training branches (and its steps after the sum) and its deploy conv, as two small graphs
 * at stride 1 (a strided conv's outputs are a subsample of these), for a check block by block from the
 * weights where the checkpoint holds no whole architecture (a detector's backbone and neck). Groups the
 * weights do not decide are taken as 1: the kernels are merged per output channel either way.
 */
export function buildBlockPair(tb: TrainBlock, deployName: string, train: ReadonlyMap<string, Tensor>, deploy: ReadonlyMap<string, Tensor>, eps: number): { readonly train: OnnxModel; readonly deploy: OnnxModel; readonly inputShape: readonly number[] } {
  const groups = tb.groups ?? 1;
  const [kh, kw] = tb.kernel;
  const side = Math.max(8, 2 * Math.max(kh, kw) + 2);
  const inputShape = [1, tb.inPerGroup * groups, side, side];
  const b: ArchBlock = { name: tb.name, stage: '', index: 0, inChannels: inputShape[1], outChannels: tb.outChannels, groups, kernel: tb.kernel, stride: 1, strideFrom: 'convention', identity: tb.identity, train: tb, deploy: tb.deploy };
  const one = (tensors: ReadonlyMap<string, Tensor>, form: 'train' | 'deploy', body: (g: GraphBuilder, x: Value) => Value): OnnxModel => {
    const g = new GraphBuilder(tensors);
    const y = body(g, g.input('input'));
    g.graph.renameValue(y, 'output');
    g.graph.addGraphOutput(y);
    return newOnnxModel(g.graph, {
      graphName: `${tb.name} (${form})`,
      opset: DEFAULT_OPSET,
      inputs: [{ name: 'input', elemType: 1, dims: inputShape }],
      outputs: [{ name: 'output', elemType: 1, dims: [1, tb.outChannels, side, side] }],
      metadata: { form, block: tb.name },
    });
  };
  return {
    train: one(train, 'train', (g, x) => {
      const sum = tb.block.branches.map((br) => branchGraph(g, x, br, b, eps)).reduce((acc, p) => g.op(`/${b.name}`, 'Add', [acc, p]));
      return tb.block.post.reduce((v, s) => {
        if (s.op !== 'bn') throw new UserError(`a ${s.op} step after the sum of '${tb.name}' has no graph built from weights`, { code: 'UNSUPPORTED' });
        return batchNorm(g, v, s, scopeOf(b.name, moduleOf(s.mean.name, 'running_mean')), b.outChannels, eps);
      }, sum);
    }),
    deploy: one(deploy, 'deploy', (g, x) => {
      // The merged conv as the merge placed it: its pads and dilation, at stride 1.
      const geo = tb.geometry;
      const attrs = [ints('dilations', [...geo.dilation]), int('group', groups), ints('kernel_shape', [...geo.kernel]), ints('pads', [...geo.pads]), ints('strides', [1, 1])];
      return g.op(`/${b.name}/${deployName}`, 'Conv', [x, g.weight(b.deploy.weight), ...(b.deploy.bias ? [g.weight(b.deploy.bias)] : [])], attrs);
    }),
    inputShape,
  };
}

/** Node scope of a module inside a block, PyTorch style: "/stage1.0/rbr_dense/conv". */
function scopeOf(block: string, module: string): string {
  const rest = block && module.startsWith(`${block}.`) ? module.slice(block.length + 1) : module;
  return `/${block ? `${block}/` : ''}${rest.replace(/\./g, '/')}`;
}
