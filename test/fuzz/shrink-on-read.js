// Loaded with `node -r` into the command under test: cuts SHRINK_PATH down to SHRINK_TO bytes just before
// the second read through a descriptor opened on it (the first, a reader's first window, sees it whole),
// as a file being rewritten by another program would be.
'use strict';
const fs = require('fs');
const path = require('path');

const watched = process.env.SHRINK_PATH && path.resolve(process.env.SHRINK_PATH);
const to = Number(process.env.SHRINK_TO || 0);
const reads = new Map();
let done = false;

if (watched) {
  const openSync = fs.openSync;
  fs.openSync = function (p, ...rest) {
    const fd = openSync.call(this, p, ...rest);
    if (typeof p === 'string' && path.resolve(p) === watched) reads.set(fd, 0);
    return fd;
  };
  const closeSync = fs.closeSync;
  fs.closeSync = function (fd) {
    reads.delete(fd);
    return closeSync.call(this, fd);
  };
  const readSync = fs.readSync;
  fs.readSync = function (fd, ...rest) {
    if (!done && reads.has(fd)) {
      const n = reads.get(fd) + 1;
      reads.set(fd, n);
      if (n === 2) {
        fs.truncateSync(watched, to);
        done = true;
      }
    }
    return readSync.call(this, fd, ...rest);
  };
}
