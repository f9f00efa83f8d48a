// What a reader keeps of an object to write it back unchanged: its bytes in the file it came from. The
// IR only holds it and drops it when the object changes; the codec that made it reads it
// (formats/onnx/encoded.ts), so the IR knows nothing of any file format.
export interface Encoded {
  readonly __encoded: unique symbol;
}
