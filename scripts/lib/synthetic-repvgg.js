// Synthetic RepVGG training checkpoints in the official key layout (DingXiaoH/RepVGG repvgg.py), with
// seeded random but valid weights (BN variance > 0), built by the project's own writers: no PyTorch.
// Tensors are computed one at a time when a writer reaches them, so any size streams in little memory.
'use strict';

const SIZES = {
  a0: { blocks: [2, 4, 14, 1], multipliers: [0.75, 0.75, 0.75, 2.5] },
  a1: { blocks: [2, 4, 14, 1], multipliers: [1, 1, 1, 2.5] },
  a2: { blocks: [2, 4, 14, 1], multipliers: [1.5, 1.5, 1.5, 2.75] },
  b0: { blocks: [4, 6, 16, 1], multipliers: [1, 1, 1, 2.5] },
  b1: { blocks: [4, 6, 16, 1], multipliers: [2, 2, 2, 4] },
  b2: { blocks: [4, 6, 16, 1], multipliers: [2.5, 2.5, 2.5, 5] },
  b3: { blocks: [4, 6, 16, 1], multipliers: [3, 3, 3, 5] },
  // Not published: B-depth with stage widths 448/896/1920/2560, so that even the deploy weights pass 2 GiB.
  over2gb: { blocks: [4, 6, 16, 1], multipliers: [7, 7, 7.5, 5] },
};

/** Stem and stage widths as repvgg.py computes them. */
function widths(size) {
  const m = size.multipliers;
  return [Math.min(64, Math.trunc(64 * m[0])), Math.trunc(64 * m[0]), Math.trunc(128 * m[1]), Math.trunc(256 * m[2]), Math.trunc(512 * m[3])];
}

/** Every block as {name, in, out, stride}, stem first. */
function blockPlan(size) {
  const w = widths(size);
  const plan = [{ name: 'stage0', in: 3, out: w[0], stride: 2 }];
  let channels = w[0];
  size.blocks.forEach((n, s) => {
    for (let i = 0; i < n; i++) {
      plan.push({ name: `stage${s + 1}.${i}`, in: channels, out: w[s + 1], stride: i === 0 ? 2 : 1 });
      channels = w[s + 1];
    }
  });
  return plan;
}

/** xorshift32 from a seed, as floats in [lo, hi). Fast enough for a few hundred million values. */
function fill(n, seed, lo, hi) {
  const out = new Float32Array(n);
  let x = (seed ^ 0x9e3779b9) >>> 0 || 1;
  const scale = (hi - lo) / 4294967296;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = lo + (x >>> 0) * scale;
  }
  return out;
}

/**
 * The training state dict as an ordered list of [key, spec]; spec = {shape, lo, hi} for float32 values or
 * {shape: [], int64: n} for num_batches_tracked. Key order follows the module creation order of repvgg.py.
 */
function stateDictSpec(sizeName, classes = 1000) {
  const size = SIZES[sizeName];
  if (!size) throw new Error(`unknown size ${sizeName} (choose from ${Object.keys(SIZES).join(', ')})`);
  const keys = [];
  const bn = (prefix, c) => {
    keys.push([`${prefix}.weight`, { shape: [c], lo: 0.5, hi: 1.5 }]);
    keys.push([`${prefix}.bias`, { shape: [c], lo: -0.3, hi: 0.3 }]);
    keys.push([`${prefix}.running_mean`, { shape: [c], lo: -0.5, hi: 0.5 }]);
    keys.push([`${prefix}.running_var`, { shape: [c], lo: 0.5, hi: 2 }]);
    keys.push([`${prefix}.num_batches_tracked`, { shape: [], int64: 1000 }]);
  };
  // Uniform in ±a with a = sqrt(3 / fanIn) / 2: each branch keeps activations near unit scale.
  const conv = (prefix, out, inC, k) => {
    const a = Math.sqrt(3 / (inC * k * k)) / 2;
    keys.push([`${prefix}.conv.weight`, { shape: [out, inC, k, k], lo: -a, hi: a }]);
    bn(`${prefix}.bn`, out);
  };
  const plan = blockPlan(size);
  for (const b of plan) {
    if (b.in === b.out && b.stride === 1) bn(`${b.name}.rbr_identity`, b.out);
    conv(`${b.name}.rbr_dense`, b.out, b.in, 3);
    conv(`${b.name}.rbr_1x1`, b.out, b.in, 1);
  }
  const last = plan[plan.length - 1].out;
  const a = Math.sqrt(3 / last);
  keys.push(['linear.weight', { shape: [classes, last], lo: -a, hi: a }]);
  keys.push(['linear.bias', { shape: [classes], lo: -0.1, hi: 0.1 }]);
  return keys;
}

const numel = (shape) => shape.reduce((a, b) => a * b, 1);

/** The state dict as [key, Tensor] entries whose bytes are made when read (seeded by key position). */
function lazyStateDict(sizeName, seed = 1) {
  return stateDictSpec(sizeName).map(([key, spec], i) => {
    if (spec.int64 !== undefined) {
      const bytes = new Uint8Array(new BigInt64Array([BigInt(spec.int64)]).buffer);
      return [key, { dtype: 'int64', shape: spec.shape, data: { kind: 'memory', bytes } }];
    }
    const compute = () => {
      const f = fill(numel(spec.shape), seed * 100003 + i, spec.lo, spec.hi);
      return new Uint8Array(f.buffer);
    };
    return [key, { dtype: 'float32', shape: spec.shape, data: { kind: 'lazy', compute } }];
  });
}

function parameterCount(sizeName) {
  return stateDictSpec(sizeName).reduce((n, [, s]) => n + (s.int64 === undefined ? numel(s.shape) : 0), 0);
}

module.exports = { SIZES, widths, blockPlan, stateDictSpec, lazyStateDict, parameterCount };
