// Checkpoint files in: safetensors or PyTorch .pth, by content.
import { InputFormat } from '../formats/detect';
import { readPth } from '../formats/pth';
import { readSafetensors } from '../formats/safetensors';
import { StateDict } from '../formats/state-dict';

export function readCheckpoint(file: string, format: InputFormat, options: { entry?: string } = {}): StateDict {
  if (format === 'safetensors') return readSafetensors(file);
  if (format === 'pth') return readPth(file, options);
  throw new Error(`${format} is not a checkpoint format`);
}
