// PyTorch .pth/.pt checkpoints (the zip format of torch.save): strict lazy reader, streaming writer.
export { readPth, MAX_PICKLE_BYTES } from './read-pth';
export type { ReadPthOptions } from './read-pth';
export { writePth } from './write-pth';
export type { WritePthOptions } from './write-pth';
export { ALLOWED_GLOBALS } from './torch-globals';
