// The package's own version, for reports, error messages and outputs' provenance.
let cached: string | undefined;

export function packageVersion(): string {
  // dist/version.js → ../package.json (and src/version.ts → ../package.json under ts-jest).
  cached ??= (require('../package.json') as { version: string }).version;
  return cached;
}
