// What the benchmark ran on: cores, memory, CPU, the disk under the work folder, and how busy the
// machine was (load average and Linux CPU pressure), since other load changes every number.
'use strict';

const { spawnSync } = require('child_process');
const fs = require('fs');
const os = require('os');

function disk(dir) {
  const r = spawnSync('df', ['-hT', dir], { encoding: 'utf8' });
  const line = (r.stdout ?? '').trim().split('\n')[1];
  if (!line) return null;
  const [source, type, size, , avail] = line.split(/\s+/);
  return { source, type, size, avail };
}

/** Share of the last 10 s that some runnable task waited for a CPU (Linux PSI), in percent. */
function cpuPressure() {
  try {
    const m = /some avg10=([\d.]+) avg60=([\d.]+)/.exec(fs.readFileSync('/proc/pressure/cpu', 'utf8'));
    return m ? { avg10: Number(m[1]), avg60: Number(m[2]) } : null;
  } catch {
    return null;
  }
}

function load() {
  return { loadavg: os.loadavg().map((x) => Number(x.toFixed(2))), cpuPressure: cpuPressure() };
}

function machine(dir) {
  return {
    cpus: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryBytes: os.totalmem(),
    disk: disk(dir),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
  };
}

module.exports = { machine, load };
