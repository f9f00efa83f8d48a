// Preloaded into a measured Node child (node --require): times the main thread's fsync and write calls
// and, at exit, writes them with the child's own peak RSS to the file named by BENCH_STATS_FILE.
'use strict';

const fs = require('fs');

const out = process.env.BENCH_STATS_FILE;
const stats = { fsyncMs: 0, fsyncCalls: 0, writeMs: 0, writeCalls: 0 };

function timed(name, key) {
  const original = fs[name];
  fs[name] = function (...args) {
    const t = performance.now();
    try {
      return original.apply(this, args);
    } finally {
      stats[`${key}Ms`] += performance.now() - t;
      stats[`${key}Calls`]++;
    }
  };
}

if (out) {
  timed('fsyncSync', 'fsync');
  timed('fdatasyncSync', 'fsync');
  timed('writeSync', 'write');
  process.on('exit', () => {
    fs.writeFileSync(out, JSON.stringify({ ...stats, maxRssBytes: process.resourceUsage().maxRSS * 1024 }));
  });
}
