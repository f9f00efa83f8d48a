// readModel / writeModel: any supported file in, as data; ONNX models and state dicts out.
import { detectInputFormat, outputFormatFor, readWeights, stageWeights } from '../formats/registry';
import { OnnxModel, readOnnx } from '../formats/onnx/read';
import { writeOnnx } from '../formats/onnx/write';
import { StateDict } from '../formats/state-dict';
import { UserError } from '../errors';

export type LoadedModel =
  | { readonly kind: 'onnx'; readonly path: string; readonly model: OnnxModel }
  | { readonly kind: 'checkpoint'; readonly path: string; readonly format: 'safetensors' | 'pth'; readonly stateDict: StateDict };

/** Reads a model lazily: tensors stay file ranges until used. Call `model.close()` on ONNX models when done. */
export function readModel(path: string, options: { entry?: string } = {}): LoadedModel {
  const format = detectInputFormat(path);
  if (format === 'onnx') return { kind: 'onnx', path, model: readOnnx(path) };
  return { kind: 'checkpoint', path, format, stateDict: readWeights(path, format, options) };
}

/** Writes a model atomically; the format follows the extension (or `to`). */
export function writeModel(path: string, model: LoadedModel, options: { to?: 'onnx' | 'safetensors' | 'pth' | 'wts' } = {}): void {
  const format = outputFormatFor(path, options.to);
  if (model.kind === 'onnx') {
    if (format !== 'onnx') throw new UserError(`an ONNX model is written as .onnx, not ${format}`, { code: 'BAD_USAGE' });
    writeOnnx(path, model.model);
    return;
  }
  stageWeights(path, format, model.stateDict.tensors, model.stateDict.metadata).commit();
}
