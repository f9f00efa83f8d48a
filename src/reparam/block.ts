// The one model of a re-parameterizable block. Every path builds it and every path reads it:
//
//   ONNX       rules/match-block.ts walks a linear region of the graph back from its output and
//              describes it as a Block whose parameters are initializers (or constants computed
//              inside the graph); rules/merge-block.ts replaces the region with one Conv.
//   checkpoint checkpoint/schemes.ts names, per family, the modules of a block and the steps inside
//              each; checkpoint/blocks.ts finds them among the keys and builds the same Block, whose
//              parameters are state-dict tensors; the merged conv gets the family's deploy name.
//   inspect    runs the ONNX matcher and the checkpoint reader, and reports what they built with the
//              same validator and kind namer, so it says exactly what a conversion would do.
//
// A block is one input x, a sum of branches, and optional per-channel steps after the sum:
//
//   y = post( Σ_b  step_bn ∘ … ∘ step_b1 (x) )
//
// Each step is linear (affine) and shift-invariant: a conv of any kernel, a BatchNorm, a per-channel
// scale and shift, a zero pad or a crop, an average pool (a constant depthwise conv), or a constant that
// replaces x (the `+ 0` of a block without an identity branch). A branch with no step is x itself.
// Chains cover the families' composite branches: DiverseBranchBlock's 1x1 → BN → (pad) → kxk → BN and
// 1x1 → BN → (pad) → avg-pool → BN, QARepVGGv2's average pool, ACNet's cropped 1xk / kx1 convs.
//
// What may be merged is decided by one validator (geometry.ts: windows, strides, pads, channels,
// groups), the values are read and checked in one place (values.ts: finite, BN variance), the merge is
// one computation (merge.ts over math/kernel.ts and math/compose.ts, in float64, rounded once), the kind
// one namer (kind.ts), and the report one type (report.ts).
import { Tensor } from '../tensor';

/** [height, width]. */
export type Pair = readonly [number, number];
/** [top, left, bottom, right], ONNX's order (begins, then ends). Negative entries crop. */
export type Pads = readonly [number, number, number, number];

/** A tensor the block reads: an initializer, a computed constant or a state-dict entry. */
export interface Param {
  /** Initializer name or state-dict key, for messages and for naming the merged weights. */
  readonly name: string;
  readonly tensor: Tensor;
}

export interface ConvStep {
  readonly op: 'conv';
  /** [out, in / group, kh, kw] */
  readonly weight: Param;
  readonly bias?: Param;
  readonly group: number;
  readonly stride: Pair;
  readonly dilation: Pair;
  readonly pads: Pads;
  /** The kernel is `weight` plus the identity (DiverseBranchBlock's IdentityBasedConv1x1 stores only the difference). */
  readonly plusIdentity?: boolean;
}

/** Inference-mode BatchNorm: (x − mean) · gamma / √(variance + eps) + beta; gamma and beta default to 1 and 0. */
export interface BnStep {
  readonly op: 'bn';
  readonly gamma?: Param;
  readonly beta?: Param;
  readonly mean: Param;
  readonly variance: Param;
  readonly eps: number;
}

/** x · scale + shift, per channel or one value for all (Mul, Div, Add, Sub by a constant). */
export interface AffineStep {
  readonly op: 'affine';
  readonly scale?: Param;
  readonly shift?: Param;
  /** The scale divides (Div) and the shift subtracts (Sub). */
  readonly invert?: { readonly scale?: boolean; readonly shift?: boolean };
}

/**
 * Constant padding (negative entries crop). `fill: 'zero'` pads with zeros; 'prefix' pads with what the
 * steps before it give for a zero input (DiverseBranchBlock's BNAndPad fills with the BN of 0), which
 * is what makes a pad inside a chain the same as zero-padding x.
 */
export interface PadStep {
  readonly op: 'pad';
  readonly pads: Pads;
  readonly fill: 'zero' | 'prefix';
}

/** An average pool: a depthwise conv with 1 / (kh · kw) everywhere; with pads only if they count. */
export interface PoolStep {
  readonly op: 'avgpool';
  readonly kernel: Pair;
  readonly stride: Pair;
  readonly pads: Pads;
  readonly countIncludePad: boolean;
}

/** The branch is this constant, broadcast over the map (one value, or one per channel). */
export interface ConstStep {
  readonly op: 'const';
  readonly value: Param;
}

export type Step = ConvStep | BnStep | AffineStep | PadStep | PoolStep | ConstStep;

export interface Branch {
  /** Applied to x in order; empty for x itself. A 'const' step stands alone. */
  readonly steps: readonly Step[];
  /** Where the branch comes from, for reports: a module name ('rbr_dense') or a node scope. */
  readonly label?: string;
}

export interface Block {
  /** The block's name: a state-dict prefix ('stage1.0') or a node scope. */
  readonly name: string;
  readonly branches: readonly Branch[];
  /** Per-channel steps after the sum ('bn' or 'affine'): QARepVGG's BatchNorm. */
  readonly post: readonly Step[];
}

export const isPerChannel = (s: Step): s is BnStep | AffineStep => s.op === 'bn' || s.op === 'affine';
export const isConst = (b: Branch): boolean => b.steps.length === 1 && b.steps[0].op === 'const';
export const convsOf = (b: Branch): ConvStep[] => b.steps.filter((s): s is ConvStep => s.op === 'conv');
