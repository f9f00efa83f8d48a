// What each library option may hold, checked at run time: a JavaScript caller gets the same clear
// UserError for `dtype: 'fp8'` as the command line does for `--dtype fp8`, never a silent default.
// Each options interface has one table of kinds (verify/option-kinds.ts, api/option-kinds.ts); the
// command line's flags take their types and choices from those tables, so they are written down once.
import { UserError } from './errors';
import { didYouMean } from './suggest';

export type OptionKind =
  | { readonly type: 'boolean' }
  | { readonly type: 'number'; readonly integer?: boolean; readonly min?: number; readonly max?: number }
  | { readonly type: 'string' }
  /** A list of non-empty strings (a repeatable flag). */
  | { readonly type: 'strings' }
  | { readonly type: 'choice'; readonly choices: readonly string[] }
  /** A tensor shape: positive whole numbers. */
  | { readonly type: 'shape' }
  /** Shapes by input name. */
  | { readonly type: 'shapes' }
  | { readonly type: 'function' }
  /** An object the callee checks itself (e.g. facts a test stands in for the machine's). */
  | { readonly type: 'object' }
  /** A nested options object, checked against its own table. */
  | { readonly type: 'options'; readonly table: OptionTable };

export type OptionTable = Readonly<Record<string, OptionKind>>;

/** A table with exactly the keys of T (so adding an option to an interface without a kind does not compile). */
export type OptionTableOf<T> = { readonly [K in keyof Required<T>]: OptionKind };

const described = (v: unknown): string => {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  if (Array.isArray(v)) return `[${v.map(described).join(', ')}]`;
  return typeof v;
};

/** What a value of this kind is, for messages: "a whole number of at least 1". */
export function kindPhrase(kind: OptionKind): string {
  switch (kind.type) {
    case 'boolean':
      return 'true or false';
    case 'number': {
      const what = kind.integer ? 'a whole number' : 'a number';
      if (kind.min !== undefined && kind.max !== undefined) return `${what} from ${kind.min} to ${kind.max}`;
      if (kind.min !== undefined) return kind.min === 0 ? `${what} of 0 or more` : `${what} of at least ${kind.min}`;
      return what;
    }
    case 'string':
      return 'a string';
    case 'strings':
      return "a list of strings, e.g. ['a.npy']";
    case 'choice':
      return `one of ${kind.choices.join(', ')}`;
    case 'shape':
      return 'a shape of positive whole numbers, e.g. [1, 3, 224, 224]';
    case 'shapes':
      return "shapes by input name, e.g. { input: [1, 3, 224, 224] }";
    case 'function':
      return 'a function';
    case 'object':
      return 'an object';
    case 'options':
      return 'an options object';
  }
}

/** Whether `value` is of `kind`. */
export function fitsKind(kind: OptionKind, value: unknown): boolean {
  switch (kind.type) {
    case 'boolean':
      return typeof value === 'boolean';
    case 'number':
      return (
        typeof value === 'number' &&
        Number.isFinite(value) &&
        (!kind.integer || Number.isInteger(value)) &&
        (kind.min === undefined || value >= kind.min) &&
        (kind.max === undefined || value <= kind.max)
      );
    case 'string':
      return typeof value === 'string' && value.length > 0;
    case 'strings':
      return Array.isArray(value) && value.every((v) => typeof v === 'string' && v.length > 0);
    case 'choice':
      return typeof value === 'string' && kind.choices.includes(value);
    case 'shape':
      return isShape(value);
    case 'shapes':
      return value !== null && typeof value === 'object' && !Array.isArray(value) && Object.values(value).every(isShape);
    case 'function':
      return typeof value === 'function';
    case 'object':
    case 'options':
      return value !== null && typeof value === 'object' && !Array.isArray(value);
  }
}

const isShape = (v: unknown): boolean => Array.isArray(v) && v.length > 0 && v.every((d) => Number.isSafeInteger(d) && d > 0);

/** Throws a BAD_USAGE UserError naming `label` ("--samples", "convert(): options.samples") when `value` is not of `kind`. */
export function checkValue(kind: OptionKind, value: unknown, label: string): void {
  if (fitsKind(kind, value)) return;
  const hint = kind.type === 'choice' && typeof value === 'string' ? didYouMean(value, kind.choices) : '';
  throw new UserError(`${label} must be ${kindPhrase(kind)}, not ${described(value)}${hint}`, { code: 'BAD_USAGE' });
}

/**
 * Checks a caller's options object against its table: unknown keys (with the nearest known one) and
 * every value that is set. `where` names the call, e.g. "convert()".
 */
export function checkOptions(table: OptionTable, options: unknown, where: string, path = 'options'): void {
  if (options === undefined) return;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new UserError(`${where}: ${path} must be an object, not ${described(options)}`, { code: 'BAD_USAGE' });
  }
  for (const [key, value] of Object.entries(options)) {
    const kind = table[key];
    if (!kind) {
      throw new UserError(`${where}: unknown option ${path}.${key}${didYouMean(key, Object.keys(table), (k) => `${path}.${k}`)}`, {
        code: 'BAD_USAGE',
        hint: `the options are: ${Object.keys(table).join(', ')}`,
      });
    }
    if (value === undefined) continue;
    if (kind.type === 'options') checkOptions(kind.table, value, where, `${path}.${key}`);
    else checkValue(kind, value, `${where}: ${path}.${key}`);
  }
}
