// The one dtype table. Every format maps its own names through here.

export type DType = 'float32' | 'float16' | 'bfloat16' | 'float64' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

export interface DTypeInfo {
  readonly dtype: DType;
  readonly size: number;
  readonly onnx: number;         // TensorProto.DataType
  readonly safetensors: string;
  readonly torchStorage: string; // torch.<X>Storage in pickles
  readonly npy?: string;         // numpy's type code without the byte order ('f4'); numpy has no bfloat16
  readonly isFloat: boolean;
}

const rows: readonly DTypeInfo[] = [
  { dtype: 'float32', size: 4, onnx: 1, safetensors: 'F32', torchStorage: 'FloatStorage', npy: 'f4', isFloat: true },
  { dtype: 'float16', size: 2, onnx: 10, safetensors: 'F16', torchStorage: 'HalfStorage', npy: 'f2', isFloat: true },
  { dtype: 'bfloat16', size: 2, onnx: 16, safetensors: 'BF16', torchStorage: 'BFloat16Storage', isFloat: true },
  { dtype: 'float64', size: 8, onnx: 11, safetensors: 'F64', torchStorage: 'DoubleStorage', npy: 'f8', isFloat: true },
  { dtype: 'int64', size: 8, onnx: 7, safetensors: 'I64', torchStorage: 'LongStorage', npy: 'i8', isFloat: false },
  { dtype: 'int32', size: 4, onnx: 6, safetensors: 'I32', torchStorage: 'IntStorage', npy: 'i4', isFloat: false },
  { dtype: 'int16', size: 2, onnx: 5, safetensors: 'I16', torchStorage: 'ShortStorage', npy: 'i2', isFloat: false },
  { dtype: 'int8', size: 1, onnx: 3, safetensors: 'I8', torchStorage: 'CharStorage', npy: 'i1', isFloat: false },
  { dtype: 'uint8', size: 1, onnx: 2, safetensors: 'U8', torchStorage: 'ByteStorage', npy: 'u1', isFloat: false },
  { dtype: 'bool', size: 1, onnx: 9, safetensors: 'BOOL', torchStorage: 'BoolStorage', npy: 'b1', isFloat: false },
];

export const DTYPES: ReadonlyMap<DType, DTypeInfo> = new Map(rows.map((r) => [r.dtype, r]));

export function dtypeInfo(dtype: DType): DTypeInfo {
  const info = DTYPES.get(dtype);
  if (!info) throw new Error(`unknown dtype ${dtype}`);
  return info;
}

export function dtypeFromOnnx(code: number): DTypeInfo | undefined {
  return rows.find((r) => r.onnx === code);
}

export function dtypeFromSafetensors(name: string): DTypeInfo | undefined {
  return rows.find((r) => r.safetensors === name);
}

export function dtypeFromNpy(code: string): DTypeInfo | undefined {
  return rows.find((r) => r.npy === code);
}

export function dtypeFromTorchStorage(name: string): DTypeInfo | undefined {
  return rows.find((r) => r.torchStorage === name);
}

/** Product of dims, refusing results past 2^53 (they cannot be addressed anyway). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`dimension ${d} is not a non-negative integer`);
    n *= d;
    if (!Number.isSafeInteger(n)) throw new RangeError(`shape [${shape.join(', ')}] has more than 2^53 elements`);
  }
  return n;
}
