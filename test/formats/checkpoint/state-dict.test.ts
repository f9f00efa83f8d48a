// Unwrapping rules: which entry is taken, in what order, and when 'module.' is stripped.
import { stripModulePrefix, unwrapStateDict } from '../../../src/formats/state-dict';
import { Tensor, tensorFromArray } from '../../../src/tensor';

const t = (): Tensor => tensorFromArray([1], Float32Array.from([1]));
const isT = (v: unknown) => (v && typeof v === 'object' && 'dtype' in v ? (v as Tensor) : undefined);
const unwrap = (root: Map<unknown, unknown>, entry?: string) => unwrapStateDict(root, { asTensor: isT, file: 'x.pth', entry });
const sd = (...keys: string[]) => new Map<unknown, unknown>(keys.map((k) => [k, t()]));

test('a dictionary of tensors is taken as it is', () => {
  const r = unwrap(sd('a', 'b'));
  expect([...r.tensors.keys()]).toEqual(['a', 'b']);
  expect(r.notes).toEqual([]);
});

test('wrappers are tried in order, nested ones too, and other candidates are named', () => {
  expect(unwrap(new Map<unknown, unknown>([['state_dict', sd('s')], ['model', sd('m')]])).notes).toEqual(["took the 'state_dict' entry (also present: 'model')"]);
  expect(unwrap(new Map<unknown, unknown>([['model', sd('m')], ['state_dict_ema', sd('e')]])).tensors.has('e')).toBe(true);
  const nested = unwrap(new Map<unknown, unknown>([['model', new Map<unknown, unknown>([['state_dict', sd('module.n')]])]]));
  expect([...nested.tensors.keys()]).toEqual(['n']);
  expect(nested.notes).toEqual(["took the 'model' > 'state_dict' entry", "stripped 'module.' prefix"]);
});

test('a wrapper without tensors is skipped for the next one', () => {
  const r = unwrap(new Map<unknown, unknown>([['ema', new Map([['updates', 5]])], ['model', sd('w')]]));
  expect(r.notes).toEqual(["took the 'model' entry (also present: 'ema')"]);
});

test('an explicit entry wins', () => {
  const root = new Map<unknown, unknown>([['ema', sd('e')], ['model', sd('m')]]);
  expect([...unwrap(root, 'model').tensors.keys()]).toEqual(['m']);
  expect(unwrap(root, 'model').notes).toEqual(["took the 'model' entry (also present: 'ema')"]);
  expect(() => unwrap(new Map<unknown, unknown>([['epoch', 3]]), 'epoch')).toThrow(/entry 'epoch' is not a dictionary of tensors/);
  expect(() => unwrap(root, 'nope')).toThrow(/no top-level entry 'nope'/);
});

test('module. is a prefix only, stripped when all keys have it, repeatedly', () => {
  expect([...stripModulePrefix(sd('module.module.a', 'module.module.b') as Map<string, Tensor>).tensors.keys()]).toEqual(['a', 'b']);
  expect([...stripModulePrefix(sd('module.a', 'b') as Map<string, Tensor>).tensors.keys()]).toEqual(['module.a', 'b']);
  expect([...stripModulePrefix(sd('x.module.a') as Map<string, Tensor>).tensors.keys()]).toEqual(['x.module.a']);
  expect([...stripModulePrefix(sd('module.') as Map<string, Tensor>).tensors.keys()]).toEqual(['module.']);
});

test('no state dict anywhere is a clear error', () => {
  expect(() => unwrap(new Map<unknown, unknown>([['epoch', 3], ['w', t()]]))).toThrow(/holds no state dict.*top-level keys: 'epoch', 'w'/);
});
