// readModel / writeModel: any supported file in, as data; ONNX models and state dicts out.
import { detectInputFormat, outputFormatFor } from '../formats/detect';
import { OnnxModel, readOnnx } from '../formats/onnx/read';
import { writeOnnx } from '../formats/onnx/write';
import { writePth } from '../formats/pth';
import { writeSafetensors } from '../formats/safetensors';
import { StateDict } from '../formats/state-dict';
import { writeWts } from '../formats/wts';
import { UserError } from '../errors';
import { readCheckpoint } from './read-checkpoint';

export type LoadedModel =
  | { readonly kind: 'onnx'; readonly path: string; readonly model: OnnxModel }
  | { readonly kind: 'checkpoint'; readonly path: string; readonly format: 'safetensors' | 'pth'; readonly stateDict: StateDict };

/** Reads a model lazily: tensors stay file ranges until used. Call `model.close()` on ONNX models when done. */
export function readModel(path: string, options: { entry?: string } = {}): LoadedModel {
  const format = detectInputFormat(path);
  if (format === 'onnx') return { kind: 'onnx', path, model: readOnnx(path) };
  return { kind: 'checkpoint', path, format, stateDict: readCheckpoint(path, format, options) };
}

/** Writes a model atomically; the format follows the extension (or `to`). */
export function writeModel(path: string, model: LoadedModel, options: { to?: 'onnx' | 'safetensors' | 'pth' | 'wts' } = {}): void {
  const format = outputFormatFor(path, options.to);
  if (model.kind === 'onnx') {
    if (format !== 'onnx') throw new UserError(`an ONNX model is written as .onnx, not ${format}`, { code: 'BAD_USAGE' });
    writeOnnx(path, model.model);
    return;
  }
  const tensors = model.stateDict.tensors;
  if (format === 'safetensors') writeSafetensors(path, tensors, model.stateDict.metadata);
  else if (format === 'pth') writePth(path, tensors);
  else if (format === 'wts') writeWts(path, tensors);
  else throw new UserError(`a state dict is written as .safetensors, .pth or .wts, not ${format}`, { code: 'BAD_USAGE' });
}
