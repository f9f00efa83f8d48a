// Loaded with `node -r` into the command under test: records into RECORD_WRITES_LOG every attempt to open
// one of RECORD_WRITES_PATHS for writing (or to replace, remove or truncate it), and every child process
// started, so a test can prove that a refused input was never opened for writing and nothing was run.
'use strict';
const fs = require('fs');
const path = require('path');
const childProcess = require('child_process');

const log = process.env.RECORD_WRITES_LOG;
const watched = new Set((process.env.RECORD_WRITES_PATHS || '').split(path.delimiter).filter(Boolean).map((p) => path.resolve(p)));
const append = fs.appendFileSync;
const note = (what) => append(log, `${what}\n`);
const hit = (p) => (typeof p === 'string' || p instanceof URL || Buffer.isBuffer(p)) && watched.has(path.resolve(String(p)));
const writes = (flags) => {
  if (flags === undefined || flags === null) return false;
  if (typeof flags === 'number') return (flags & (fs.constants.O_WRONLY | fs.constants.O_RDWR | fs.constants.O_TRUNC | fs.constants.O_APPEND)) !== 0;
  return !/^(r|rs|sr)$/.test(flags);
};

function wrap(obj, name, check) {
  const original = obj[name];
  if (typeof original !== 'function') return;
  obj[name] = function (...args) {
    const what = check(...args);
    if (what) note(`${name} ${what}`);
    return original.apply(this, args);
  };
}

if (log) {
  const flagged = (p, flags) => (hit(p) && writes(flags) ? `${p} ${flags}` : undefined);
  wrap(fs, 'openSync', flagged);
  wrap(fs, 'open', (p, flags) => (typeof flags === 'function' ? undefined : flagged(p, flags)));
  wrap(fs.promises, 'open', flagged);
  for (const name of ['writeFileSync', 'appendFileSync', 'truncateSync', 'rmSync', 'unlinkSync', 'createWriteStream', 'writeFile', 'appendFile', 'truncate', 'rm', 'unlink']) {
    wrap(fs, name, (p) => (hit(p) ? String(p) : undefined));
  }
  for (const name of ['renameSync', 'copyFileSync', 'rename', 'copyFile']) {
    wrap(fs, name, (from, to) => (hit(to) || (name.startsWith('rename') && hit(from)) ? `${from} → ${to}` : undefined));
  }
  for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']) {
    wrap(childProcess, name, (cmd) => `ran ${String(cmd)}`);
  }
}
