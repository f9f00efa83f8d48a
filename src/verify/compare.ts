// The pass rule and the error statistics for one output, accumulated over samples.
// An element fails only if it is off by more than atol AND by more than rtol * |reference|;
// a NaN or infinity on one side that the other side does not have always fails.

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

/** Smallest normal float32: the floor under |reference| when computing relative errors, so they stay finite. */
export const REL_FLOOR = 1.1754943508222875e-38;

/** Above this many elements the median is taken over the first ones only (and says so). */
export const MEDIAN_LIMIT = 1 << 24;

export function elementFails(reference: number, candidate: number, tol: Tolerance): boolean {
  if (Number.isNaN(reference) || Number.isNaN(candidate)) return Number.isNaN(reference) !== Number.isNaN(candidate);
  if (!Number.isFinite(reference) || !Number.isFinite(candidate)) return reference !== candidate;
  const d = Math.abs(candidate - reference);
  return d > tol.atol && d > tol.rtol * Math.abs(reference);
}

export interface ElementAt {
  readonly sample: number;
  /** Flat (C-order) index inside the output. */
  readonly index: number;
  readonly reference: number;
  readonly candidate: number;
}

export interface OutputStats {
  /** Elements compared, over all samples. */
  readonly elements: number;
  readonly failingElements: number;
  /** Over elements finite on both sides. */
  readonly maxAbsError: number;
  readonly maxRelError: number;
  readonly meanAbsError: number;
  readonly medianAbsError: number;
  /** Elements the median was taken over (all of them unless past MEDIAN_LIMIT). */
  readonly medianOver: number;
  readonly cosineSimilarity: number;
  /** Share of rows whose argmax agrees; only for [N, C] outputs with C > 1. */
  readonly top1Agreement?: number;
  readonly top1Rows?: number;
  readonly nanCount: { readonly reference: number; readonly candidate: number };
  readonly infCount: { readonly reference: number; readonly candidate: number };
  /** Elements where one side is NaN/Inf and the other is not the same thing. */
  readonly nonFiniteMismatches: number;
  /** The largest finite |value| the candidate gave: how close its numbers come to a narrower type's range (float16: 65504). */
  readonly maxAbsCandidate: number;
  /** The element with the largest absolute error (finite on both sides). */
  readonly worst?: ElementAt;
  /** The first element that failed the pass rule. */
  readonly firstFailure?: ElementAt;
}

/** Accumulates statistics for one output across samples without keeping the outputs. */
export class ErrorAccumulator {
  private elements = 0;
  private failing = 0;
  private maxAbs = 0;
  private maxRel = 0;
  private maxCand = 0;
  private sumAbs = 0;
  private finitePairs = 0;
  private dot = 0;
  private refSq = 0;
  private candSq = 0;
  private rows = 0;
  private rowsAgree = 0;
  private nanRef = 0;
  private nanCand = 0;
  private infRef = 0;
  private infCand = 0;
  private nonFinite = 0;
  private worst?: ElementAt;
  private firstFailure?: ElementAt;
  private readonly diffs: Float32Array[] = [];
  private kept = 0;
  private samples = 0;

  constructor(private readonly tol: Tolerance, private readonly medianLimit = MEDIAN_LIMIT) {}

  /**
   * Adds one sample of one output. `classes` > 1 turns on top-1 agreement with rows of that length
   * (the caller decides when an output is classifier-shaped).
   */
  add(reference: ArrayLike<number>, candidate: ArrayLike<number>, classes = 0): void {
    if (reference.length !== candidate.length) {
      throw new RangeError(`reference has ${reference.length} elements, candidate ${candidate.length}`);
    }
    const sample = this.samples++;
    const n = reference.length;
    const room = Math.max(0, Math.min(n, this.medianLimit - this.kept));
    const diffs = room > 0 ? new Float32Array(room) : undefined;
    let kept = 0;
    const { atol, rtol } = this.tol;
    for (let i = 0; i < n; i++) {
      const r = reference[i];
      const c = candidate[i];
      const rFinite = Number.isFinite(r);
      const cFinite = Number.isFinite(c);
      if (!rFinite || !cFinite) {
        if (Number.isNaN(r)) this.nanRef++;
        else if (!rFinite) this.infRef++;
        if (Number.isNaN(c)) this.nanCand++;
        else if (!cFinite) this.infCand++;
        if (elementFails(r, c, this.tol)) {
          this.nonFinite++;
          this.fail(sample, i, r, c);
        }
        continue;
      }
      const d = Math.abs(c - r);
      const absRef = Math.abs(r);
      if (Math.abs(c) > this.maxCand) this.maxCand = Math.abs(c);
      const rel = d === 0 ? 0 : d / Math.max(absRef, REL_FLOOR);
      if (this.worst === undefined || d > this.maxAbs) {
        this.maxAbs = d;
        this.worst = { sample, index: i, reference: r, candidate: c };
      }
      if (rel > this.maxRel) this.maxRel = rel;
      this.sumAbs += d;
      this.finitePairs++;
      this.dot += r * c;
      this.refSq += r * r;
      this.candSq += c * c;
      if (diffs !== undefined && kept < room) diffs[kept++] = d;
      if (d > atol && d > rtol * absRef) this.fail(sample, i, r, c);
    }
    if (diffs !== undefined && kept > 0) {
      this.diffs.push(kept === diffs.length ? diffs : diffs.subarray(0, kept));
      this.kept += kept;
    }
    this.elements += n;
    if (classes > 1 && n % classes === 0) {
      for (let row = 0; row < n; row += classes) {
        this.rows++;
        if (argmax(reference, row, classes) === argmax(candidate, row, classes)) this.rowsAgree++;
      }
    }
  }

  private fail(sample: number, index: number, reference: number, candidate: number): void {
    this.failing++;
    if (this.firstFailure === undefined) this.firstFailure = { sample, index, reference, candidate };
  }

  result(): OutputStats {
    const norm = Math.sqrt(this.refSq) * Math.sqrt(this.candSq);
    const cosine = norm > 0 ? this.dot / norm : this.refSq === 0 && this.candSq === 0 ? 1 : 0;
    return {
      elements: this.elements,
      failingElements: this.failing,
      maxAbsError: this.maxAbs,
      maxRelError: this.maxRel,
      meanAbsError: this.finitePairs > 0 ? this.sumAbs / this.finitePairs : 0,
      medianAbsError: median(this.diffs, this.kept),
      medianOver: this.kept,
      cosineSimilarity: cosine,
      ...(this.rows > 0 ? { top1Agreement: this.rowsAgree / this.rows, top1Rows: this.rows } : {}),
      nanCount: { reference: this.nanRef, candidate: this.nanCand },
      infCount: { reference: this.infRef, candidate: this.infCand },
      nonFiniteMismatches: this.nonFinite,
      maxAbsCandidate: this.maxCand,
      ...(this.worst ? { worst: this.worst } : {}),
      ...(this.firstFailure ? { firstFailure: this.firstFailure } : {}),
    };
  }
}

/** How far the elements beyond a tolerance are off (for an FP16 candidate: beyond the FP32 tolerances). */
export interface Exceedance {
  readonly atol: number;
  readonly rtol: number;
  /** Elements failing the pass rule under these tolerances, non-finite mismatches included. */
  readonly count: number;
  /** Over the finite elements counted; 0 when none. */
  readonly maxAbsError: number;
  readonly maxRelError: number;
  /** Largest |candidate - reference| / max(atol, rtol * |reference|): how many allowances the worst element is off. */
  readonly maxAllowances: number;
}

/** Counts the elements a second, tighter tolerance would fail, without keeping the outputs. */
export class ExceedanceCounter {
  private count = 0;
  private maxAbs = 0;
  private maxRel = 0;
  private maxAllowances = 0;

  constructor(private readonly tol: Tolerance) {}

  add(reference: ArrayLike<number>, candidate: ArrayLike<number>): void {
    if (reference.length !== candidate.length) {
      throw new RangeError(`reference has ${reference.length} elements, candidate ${candidate.length}`);
    }
    for (let i = 0; i < reference.length; i++) {
      const r = reference[i];
      const c = candidate[i];
      if (!elementFails(r, c, this.tol)) continue;
      this.count++;
      if (!Number.isFinite(r) || !Number.isFinite(c)) continue;
      const d = Math.abs(c - r);
      const absRef = Math.abs(r);
      if (d > this.maxAbs) this.maxAbs = d;
      const rel = d / Math.max(absRef, REL_FLOOR);
      if (rel > this.maxRel) this.maxRel = rel;
      // Zero tolerances allow nothing; MAX_VALUE rather than Infinity keeps the report valid JSON.
      const allowance = Math.max(this.tol.atol, this.tol.rtol * absRef);
      const times = allowance > 0 ? d / allowance : Number.MAX_VALUE;
      if (times > this.maxAllowances) this.maxAllowances = times;
    }
  }

  result(): Exceedance {
    const { atol, rtol } = this.tol;
    return { atol, rtol, count: this.count, maxAbsError: this.maxAbs, maxRelError: this.maxRel, maxAllowances: this.maxAllowances };
  }
}

/** Index of the largest value in [start, start+length); NaN never wins. */
export function argmax(values: ArrayLike<number>, start: number, length: number): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = 0; i < length; i++) {
    const v = values[start + i];
    if (v > bestValue || (best < 0 && v === -Infinity)) {
      best = i;
      bestValue = v;
    }
  }
  return best;
}

function median(chunks: readonly Float32Array[], count: number): number {
  if (count === 0) return 0;
  let all: Float32Array;
  if (chunks.length === 1) all = chunks[0].slice();
  else {
    all = new Float32Array(count);
    let at = 0;
    for (const c of chunks) {
      all.set(c, at);
      at += c.length;
    }
  }
  all.sort();
  const mid = count >> 1;
  return count % 2 === 1 ? all[mid] : (all[mid - 1] + all[mid]) / 2;
}
