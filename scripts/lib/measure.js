// Runs a command as a child and measures it: wall time (here), CPU time and peak RSS from the OS
// (/usr/bin/time when present; else, for Node children, what the child reports through child-stats.js).
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const TIME = '/usr/bin/time';
const HAS_TIME = fs.existsSync(TIME);
const CHILD_STATS = path.join(__dirname, 'child-stats.js');

/**
 * Runs `cmd args` and returns { status, wallMs, userMs, sysMs, maxRssBytes, stdout, stderr, child }, where
 * `child` holds what a Node child reported (fsync and write time of its main thread) when `node` is set.
 */
function measure(cmd, args, options = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-measure-'));
  const timeFile = path.join(dir, 'time');
  const statsFile = path.join(dir, 'stats.json');
  let argv = options.node ? ['--require', CHILD_STATS, ...args] : args;
  let file = cmd;
  if (HAS_TIME) {
    argv = ['-o', timeFile, '-f', '%M %U %S', cmd, ...argv];
    file = TIME;
  }
  const env = { ...process.env, ...(options.env ?? {}), BENCH_STATS_FILE: statsFile };
  const started = performance.now();
  const r = spawnSync(file, argv, { cwd: options.cwd, env, encoding: 'utf8', maxBuffer: 64 << 20 });
  const wallMs = performance.now() - started;
  const result = { status: r.status, wallMs, userMs: null, sysMs: null, maxRssBytes: null, stdout: r.stdout, stderr: r.stderr, child: null };
  if (HAS_TIME && fs.existsSync(timeFile)) {
    // The last line: a child's own stderr may not end in a newline.
    const line = fs.readFileSync(timeFile, 'utf8').trim().split('\n').pop();
    const [kb, user, sys] = line.split(' ').map(Number);
    Object.assign(result, { maxRssBytes: kb * 1024, userMs: user * 1000, sysMs: sys * 1000 });
  }
  if (fs.existsSync(statsFile)) {
    result.child = JSON.parse(fs.readFileSync(statsFile, 'utf8'));
    result.maxRssBytes ??= result.child.maxRssBytes;
  }
  fs.rmSync(dir, { recursive: true, force: true });
  if (r.error) throw r.error;
  return result;
}

/** Flushes every dirty page, so one measured run's write-back does not land in the next. */
function syncAll() {
  spawnSync('sync');
}

module.exports = { measure, syncAll, HAS_TIME };
