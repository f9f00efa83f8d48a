// The pickle reader: every protocol Python writes decodes to the same data, and hostile pickles are refused
// by name or bounded, with nothing from the file ever run.
import * as fs from 'fs';
import * as path from 'path';
import { DecodeError, FormatError, UserError } from '../../../src/errors';
import { readPth } from '../../../src/formats/pth';
import { HostValue, PICKLE_LIMITS, PyBytes, PyDict, PyGlobal, PySet, PyTuple, PyValue, unpickle } from '../../../src/formats/pth/pickle';
import { ALLOWED_GLOBALS, torchHooks } from '../../../src/formats/pth/torch-globals';
import { bytes, f32, glob, int, orderedDict, pickle, rebuildTensor, storageRef, str, tempDir, u32, writeArchive } from './helpers';

const dir = tempDir();
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const hooks = () =>
  torchHooks({
    file: 'test.pth',
    storageRange: () => {
      throw new Error('no storages here');
    },
  });
const load = (b: Uint8Array, limits = {}) => unpickle(b, hooks(), limits);

/** Plain JS for comparisons: tuples, sets and bytes tagged, big integers as strings. */
function plain(v: PyValue): unknown {
  if (typeof v === 'bigint') return `${v}n`;
  if (v instanceof PyTuple) return { tuple: v.items.map(plain) };
  if (Array.isArray(v)) return v.map(plain);
  if (v instanceof PyDict) return { [v.pyType]: [...v].map(([k, x]) => [plain(k), plain(x)]) };
  if (v instanceof PySet) return { [v.frozen ? 'frozenset' : 'set']: v.items.map(plain) };
  if (v instanceof PyBytes) return { bytes: Buffer.from(v.bytes).toString('hex') };
  if (v instanceof PyGlobal || v instanceof HostValue) throw new Error('unexpected object');
  return v;
}

// pickle.dumps(obj, protocol=p) for p = 0..5, made with CPython 3.11 (see the test below for obj)
const PYTHON_PICKLES: Record<number, string> = {
  0: '286470300a56696e74730a70310a286c70320a49300a6149310a61492d310a61493235350a61493235360a61493635353335' +
    '0a614936353533360a61492d323134373438333634380a614c323134373438333634384c0a614c3930303731393932353437' +
    '34303939314c0a614c313138303539313632303731373431313330333432344c0a614c2d3131383035393136323037313734' +
    '31313330333432344c0a617356666c6f6174730a70330a286c70340a46312e350a61462d302e32350a6146696e660a617356' +
    '6e6f6e650a70350a4e7356626f6f6c730a70360a284930310a4930300a7470370a7356746578740a70380a286c70390a560a' +
    '7031300a6156fc5c75323139320a7031310a61567127225c75303035635c75303030610a7031320a61735662797465730a70' +
    '31330a286c7031340a635f5f6275696c74696e5f5f0a62797465730a7031350a2874527031360a61635f636f646563730a65' +
    '6e636f64650a7031370a28565c7530303030ff0a7031380a566c6174696e310a7031390a747032300a527032310a61735674' +
    '75706c65730a7032320a286c7032330a2874612849310a747032340a612849310a49320a747032350a612849310a49320a49' +
    '330a747032360a612849310a49320a49330a49340a747032370a6173567365740a7032380a635f5f6275696c74696e5f5f0a' +
    '7365740a7032390a28286c7033300a49370a61747033310a527033320a735666726f7a656e0a7033330a635f5f6275696c74' +
    '696e5f5f0a66726f7a656e7365740a7033340a28286c7033350a49380a61747033360a527033370a73566f640a7033380a63' +
    '636f6c6c656374696f6e730a4f726465726564446963740a7033390a2874527034300a56780a7034310a49310a7373567368' +
    '617265640a7034320a286c7034330a286c7034340a49310a6149320a61616734340a61732e',
  1: '7d7100285804000000696e747371015d7102284b004b014affffffff4bff4d00014dffff4a000001004a000000804c323134' +
    '373438333634384c0a4c393030373139393235343734303939314c0a4c313138303539313632303731373431313330333432' +
    '344c0a4c2d313138303539313632303731373431313330333432344c0a655806000000666c6f61747371035d710428473ff8' +
    '00000000000047bfd0000000000000477ff00000000000006558040000006e6f6e6571054e5805000000626f6f6c73710628' +
    '4930310a4930300a74710758040000007465787471085d7109285800000000710a5805000000c3bce28692710b5805000000' +
    '7127225c0a710c6558050000006279746573710d5d710e28635f5f6275696c74696e5f5f0a62797465730a710f2952711063' +
    '5f636f646563730a656e636f64650a711128580300000000c3bf711258060000006c6174696e317113747114527115655806' +
    '0000007475706c657371165d71172829284b01747118284b014b02747119284b014b024b0374711a284b014b024b034b0474' +
    '711b655803000000736574711c635f5f6275696c74696e5f5f0a7365740a711d285d711e4b076174711f5271205806000000' +
    '66726f7a656e7121635f5f6275696c74696e5f5f0a66726f7a656e7365740a7122285d71234b086174712452712558020000' +
    '006f64712663636f6c6c656374696f6e730a4f726465726564446963740a71272952712858010000007871294b0173580600' +
    '0000736861726564712a5d712b285d712c284b014b0265682c65752e',
  2: '80027d7100285804000000696e747371015d7102284b004b014affffffff4bff4d00014dffff4a000001004a000000808a05' +
    '00000080008a07ffffffffffff1f8a090000000000000000408a090000000000000000c0655806000000666c6f6174737103' +
    '5d710428473ff800000000000047bfd0000000000000477ff00000000000006558040000006e6f6e6571054e580500000062' +
    '6f6f6c737106888986710758040000007465787471085d7109285800000000710a5805000000c3bce28692710b5805000000' +
    '7127225c0a710c6558050000006279746573710d5d710e28635f5f6275696c74696e5f5f0a62797465730a710f2952711063' +
    '5f636f646563730a656e636f64650a7111580300000000c3bf711258060000006c6174696e31711386711452711565580600' +
    '00007475706c657371165d711728294b018571184b014b028671194b014b024b0387711a284b014b024b034b0474711b6558' +
    '03000000736574711c635f5f6275696c74696e5f5f0a7365740a711d5d711e4b076185711f527120580600000066726f7a65' +
    '6e7121635f5f6275696c74696e5f5f0a66726f7a656e7365740a71225d71234b086185712452712558020000006f64712663' +
    '636f6c6c656374696f6e730a4f726465726564446963740a71272952712858010000007871294b0173580600000073686172' +
    '6564712a5d712b285d712c284b014b0265682c65752e',
  3: '80037d7100285804000000696e747371015d7102284b004b014affffffff4bff4d00014dffff4a000001004a000000808a05' +
    '00000080008a07ffffffffffff1f8a090000000000000000408a090000000000000000c0655806000000666c6f6174737103' +
    '5d710428473ff800000000000047bfd0000000000000477ff00000000000006558040000006e6f6e6571054e580500000062' +
    '6f6f6c737106888986710758040000007465787471085d7109285800000000710a5805000000c3bce28692710b5805000000' +
    '7127225c0a710c6558050000006279746573710d5d710e284300710f430200ff71106558060000007475706c657371115d71' +
    '1228294b018571134b014b028671144b014b024b03877115284b014b024b034b047471166558030000007365747117636275' +
    '696c74696e730a7365740a71185d71194b076185711a52711b580600000066726f7a656e711c636275696c74696e730a6672' +
    '6f7a656e7365740a711d5d711e4b086185711f52712058020000006f64712163636f6c6c656374696f6e730a4f7264657265' +
    '64446963740a71222952712358010000007871244b0173580600000073686172656471255d7126285d7127284b014b026568' +
    '2765752e',
  4: '80049548010000000000007d94288c04696e7473945d94284b004b014affffffff4bff4d00014dffff4a000001004a000000' +
    '808a0500000080008a07ffffffffffff1f8a090000000000000000408a090000000000000000c0658c06666c6f617473945d' +
    '9428473ff800000000000047bfd0000000000000477ff0000000000000658c046e6f6e65944e8c05626f6f6c739488898694' +
    '8c0474657874945d94288c00948c05c3bce28692948c057127225c0a94658c056279746573945d9428430094430200ff9465' +
    '8c067475706c6573945d9428294b0185944b014b0286944b014b024b038794284b014b024b034b047494658c03736574948f' +
    '94284b07908c0666726f7a656e94284b0891948c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963' +
    '749493942952948c0178944b01738c06736861726564945d94285d94284b014b0265682365752e',
  5: '80059548010000000000007d94288c04696e7473945d94284b004b014affffffff4bff4d00014dffff4a000001004a000000' +
    '808a0500000080008a07ffffffffffff1f8a090000000000000000408a090000000000000000c0658c06666c6f617473945d' +
    '9428473ff800000000000047bfd0000000000000477ff0000000000000658c046e6f6e65944e8c05626f6f6c739488898694' +
    '8c0474657874945d94288c00948c05c3bce28692948c057127225c0a94658c056279746573945d9428430094430200ff9465' +
    '8c067475706c6573945d9428294b0185944b014b0286944b014b024b038794284b014b024b034b047494658c03736574948f' +
    '94284b07908c0666726f7a656e94284b0891948c026f64948c0b636f6c6c656374696f6e73948c0b4f726465726564446963' +
    '749493942952948c0178944b01738c06736861726564945d94285d94284b014b0265682365752e',
};

describe('pickle protocols', () => {
  const expected = {
    dict: [
      ['ints', [0, 1, -1, 255, 256, 65535, 65536, -(2 ** 31), 2 ** 31, 2 ** 53 - 1, `${2n ** 70n}n`, `${-(2n ** 70n)}n`]],
      ['floats', [1.5, -0.25, Infinity]],
      ['none', null],
      ['bools', { tuple: [true, false] }],
      ['text', ['', 'ü→', "q'\"\\\n"]],
      ['bytes', [{ bytes: '' }, { bytes: '00ff' }]],
      ['tuples', [{ tuple: [] }, { tuple: [1] }, { tuple: [1, 2] }, { tuple: [1, 2, 3] }, { tuple: [1, 2, 3, 4] }]],
      ['set', { set: [7] }],
      ['frozen', { frozenset: [8] }],
      ['od', { OrderedDict: [['x', 1]] }],
      ['shared', [[1, 2], [1, 2]]],
    ],
  };

  test.each([0, 1, 2, 3, 4, 5])('protocol %i decodes to the same data', (p) => {
    const v = load(Buffer.from(PYTHON_PICKLES[p], 'hex'));
    expect(plain(v)).toEqual(expected);
    // memo references stay shared objects, as in Python
    const shared = (v as PyDict).get('shared') as PyValue[];
    expect(shared[0]).toBe(shared[1]);
  });

  test('a list that contains itself does not hang', () => {
    const v = load(bytes(0x80, 2, 0x5d, 0x71, 0, 0x68, 0, 0x61, 0x2e)) as PyValue[];
    expect(v[0]).toBe(v);
  });

  test('the allow-list is the documented one', () => {
    expect(ALLOWED_GLOBALS).toContain('torch._utils._rebuild_tensor_v2');
    expect(ALLOWED_GLOBALS).not.toContain('builtins.eval');
  });
});

describe('hostile pickles are refused by name', () => {
  test.each([
    ['os', 'system'],
    ['posix', 'system'],
    ['nt', 'system'],
    ['builtins', 'eval'],
    ['__builtin__', 'eval'],
    ['builtins', 'exec'],
    ['builtins', 'getattr'],
    ['builtins', '__import__'],
    ['subprocess', 'Popen'],
    ['torch', 'load'],
    ['torch.serialization', 'load'],
    ['torch._utils', '_rebuild_tensor'],
    ['numpy.core.multiarray', '_reconstruct'],
    ['__main__', 'RepVGG'],
  ])('%s.%s', (module, name) => {
    const p = pickle(bytes(glob(module, name), str('touch /tmp/x'), 0x85, 0x52));
    expect(() => load(p)).toThrow(UserError);
    expect(() => load(p)).toThrow(new RegExp(`refers to ${module}\\.${name} \\(at byte 2\\)`));
  });

  test('STACK_GLOBAL and INST are checked the same way', () => {
    const stack = bytes(0x80, 4, 0x8c, 2, 'os', 0x8c, 6, 'system', 0x93, 0x8c, 4, 'echo', 0x85, 0x52, 0x2e);
    expect(() => load(stack)).toThrow(/refers to os\.system \(at byte 14\)/);
    const inst = bytes('(S\'echo\'\nios\nsystem\n.');
    expect(() => load(inst)).toThrow(/refers to os\.system/);
  });

  test('unsupported torch storage types are named', () => {
    for (const t of ['ComplexFloatStorage', 'QInt8Storage', 'UntypedStorage']) {
      expect(() => load(pickle(bytes(glob('torch', t))))).toThrow(expect.objectContaining({ code: 'UNSUPPORTED', message: expect.stringContaining(`torch.${t}`) }));
    }
  });

  test('nothing from a refused file runs', () => {
    const markers = ['shell', 'js', 'exec'].map((k) => path.join(dir, `pwned-${k}`));
    const payloads = [
      bytes(glob('posix', 'system'), str(`touch ${markers[0]}`), 0x85, 0x52),
      bytes(glob('builtins', 'eval'), str(`require('fs').writeFileSync(${JSON.stringify(markers[1])}, 'x')`), 0x85, 0x52),
      bytes(glob('builtins', 'exec'), str(`open(${JSON.stringify(markers[2])}, 'w')`), 0x85, 0x52),
    ];
    payloads.forEach((payload, i) => {
      // shaped like a real attack: a valid state dict first, the payload in a later entry
      const body = bytes(0x7d, 0x28, str('state_dict'), orderedDict([['w', rebuildTensor(storageRef('FloatStorage', '0', 2), 0, [2], [1])]]), str('x'), payload, 0x75);
      const f = path.join(dir, `evil-${i}.pth`);
      writeArchive(f, { pickle: pickle(body), storages: [['0', f32([1, 2])]] });
      expect(() => readPth(f)).toThrow(UserError);
    });
    for (const m of markers) expect(fs.existsSync(m)).toBe(false);
  });
});

describe('malformed and oversized pickles are bounded', () => {
  const fails = (b: Uint8Array, re: RegExp, limits = {}) => {
    let err: unknown;
    try {
      load(b, limits);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as Error).message).toMatch(re);
  };

  test.each<[string, Uint8Array, RegExp]>([
    ['truncated string', bytes(0x80, 2, 0x58, u32(1000), 'abc'), /unexpected end of data/],
    ['unknown opcode', bytes(0x80, 2, 0xff), /unknown opcode 0xff/],
    ['protocol 6', bytes(0x80, 6, 0x4e, 0x2e), /unsupported pickle protocol 6/],
    ['missing memo', bytes(0x80, 2, 0x68, 5, 0x2e), /memo index 5 was never stored/],
    ['stack underflow', bytes(0x80, 2, 0x61, 0x2e), /stack underflow/],
    ['huge integer', bytes(0x80, 2, 0x8b, u32(1 << 20)), /integer of 1048576 bytes is larger than 1024/],
    ['extension registry', bytes(0x80, 2, 0x82, 1, 0x2e), /extension code 1/],
    ['out-of-band buffer', bytes(0x80, 5, 0x97, 0x2e), /out-of-band buffers/],
    ['reduce on a string', bytes(0x80, 2, str('x'), 0x29, 0x52, 0x2e), /REDUCE on "x", which is not callable/],
    ['append to a dict', bytes(0x80, 2, 0x7d, 0x4e, 0x61, 0x2e), /APPEND on dict of 0, which is not a list/],
    ['unhashable key', bytes(0x80, 2, 0x7d, 0x5d, 0x4e, 0x73, 0x2e), /unhashable list of 0/],
    ['build on a tuple', bytes(0x80, 2, 0x29, 0x7d, 0x62, 0x2e), /BUILD on tuple of 0/],
    ['persistent id not a storage', bytes(0x80, 2, str('x'), 0x51, 0x2e), /persistent id "x" is not a storage reference/],
    ['no STOP', bytes(0x80, 2, 0x4e), /unexpected end of data/],
    ['STOP inside a MARK', bytes(0x80, 2, 0x28, 0x4e, 0x2e), /STOP inside an open MARK/],
    ['calling a storage type', bytes(0x80, 2, glob('torch', 'FloatStorage'), 0x29, 0x52, 0x2e), /calls torch\.FloatStorage directly/],
    ['rebuild with junk', bytes(0x80, 2, glob('torch._utils', '_rebuild_tensor_v2'), 0x28, 0x4e, int(0), 0x29, 0x29, 0x89, 0x7d, 0x74, 0x52, 0x2e), /given None as storage/],
  ])('%s', (_name, b, re) => fails(b, re));

  test('mark nesting is capped', () => {
    fails(bytes(0x80, 2, new Array(10_001).fill(0x28)), /MARKs nest deeper than 10000/);
  });

  test('object count is capped', () => {
    fails(bytes(0x80, 2, 0x5d, 0x28, new Array(200).fill(0x4e), 0x65, 0x2e), /more than 100 objects/, { maxObjects: 100 });
  });

  test('what the objects built take is counted before they are made, against a budget', () => {
    // each EMPTY_DICT + MEMOIZE is two bytes of pickle and some 260 bytes built
    const dicts = (n: number) => bytes(0x80, 2, new Array(n).fill([0x7d, 0x94]).flat(), 0x7d, 0x2e);
    fails(dicts(5000), /its 10004 bytes would build more than 1 MiB of objects, more than any checkpoint needs/, { maxMemory: 2 ** 20 });
    expect(() => load(dicts(3000), { maxMemory: 2 ** 20 })).not.toThrow();
    // the default: 64 MiB and 32 bytes per byte of pickle, at most 256 MiB
    expect([0, 1 << 20, 8 << 20, 64 << 20].map((n) => PICKLE_LIMITS.memory(n) / 2 ** 20)).toEqual([64, 96, 256, 256]);
  });

  test('errors point at the byte in the file', () => {
    const f = path.join(dir, 'bad-op.pth');
    writeArchive(f, { pickle: bytes(0x80, 2, 0xff) });
    let err: unknown;
    try {
      readPth(f);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(FormatError);
    // data.pkl's bytes start at 64 (the first entry is aligned), the opcode is its third byte
    expect((err as FormatError).message).toBe(`${f} is not a PyTorch checkpoint (data.pkl: unknown opcode 0xff at byte 66)`);
  });
});
