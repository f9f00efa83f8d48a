// Field numbers of the ONNX messages this tool decodes (onnx.proto). Fields not listed are carried as bytes.

export const ModelField = { irVersion: 1, producerName: 2, producerVersion: 3, domain: 4, modelVersion: 5, docString: 6, graph: 7, opsetImport: 8, metadataProps: 14, trainingInfo: 20, functions: 25 } as const;
export const OpsetField = { domain: 1, version: 2 } as const;
export const GraphField = { node: 1, name: 2, initializer: 5, docString: 10, input: 11, output: 12, valueInfo: 13, sparseInitializer: 15, metadataProps: 16 } as const;
export const NodeField = { input: 1, output: 2, name: 3, opType: 4, attribute: 5, docString: 6, domain: 7, overload: 8, metadataProps: 9 } as const;
export const AttrField = { name: 1, f: 2, i: 3, s: 4, t: 5, g: 6, floats: 7, ints: 8, strings: 9, tensors: 10, graphs: 11, type: 20 } as const;
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8, TENSORS: 9, GRAPHS: 10 } as const;
export const TensorField = { dims: 1, dataType: 2, segment: 3, floatData: 4, int32Data: 5, stringData: 6, int64Data: 7, name: 8, rawData: 9, doubleData: 10, uint64Data: 11, docString: 12, externalData: 13, dataLocation: 14, metadataProps: 16 } as const;
export const ValueInfoField = { name: 1, type: 2, docString: 3 } as const;
export const TypeField = { tensorType: 1 } as const;
export const TensorTypeField = { elemType: 1, shape: 2 } as const;
export const ShapeField = { dim: 1 } as const;
export const DimField = { value: 1, param: 2 } as const;
export const EntryField = { key: 1, value: 2 } as const;
