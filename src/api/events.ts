// Progress is emitted as events by the library; the CLI decides whether and how to draw them.

export type Phase = 'read' | 'merge' | 'write' | 'verify' | 'bench' | 'build';

/** What a progress count measures: bytes of a file, onnxruntime sessions opened, inputs run, timed runs. */
export type ProgressUnit = 'bytes' | 'sessions' | 'samples' | 'runs';

export type ConvertEvent =
  | { readonly type: 'phase-start'; readonly phase: Phase; readonly detail?: string }
  | { readonly type: 'phase-end'; readonly phase: Phase; readonly ms: number }
  /** Work done within a phase; `total` is absent when not known ahead. `what` says which step, e.g. 'train.onnx'. */
  | { readonly type: 'progress'; readonly phase: Phase; readonly done: number; readonly total?: number; readonly unit: ProgressUnit; readonly what?: string }
  | { readonly type: 'warning'; readonly message: string }
  /** A line of a tool's log (trtexec), passed on as it comes. */
  | { readonly type: 'log'; readonly source: string; readonly line: string };

export type EventSink = (e: ConvertEvent) => void;

/** Times a phase and reports its start and end. */
export async function phase<T>(emit: EventSink, name: Phase, run: () => T | Promise<T>, detail?: string): Promise<{ value: T; ms: number }> {
  emit({ type: 'phase-start', phase: name, detail });
  const t = performance.now();
  const value = await run();
  const ms = performance.now() - t;
  emit({ type: 'phase-end', phase: name, ms });
  return { value, ms };
}

/** A byte counter (a FileSink's onProgress) that reports as `phase` progress. */
export function bytesProgress(emit: EventSink, name: Phase, what?: string): (done: number, total: number | undefined) => void {
  return (done, total) => emit({ type: 'progress', phase: name, done, total, unit: 'bytes', what });
}
