// What a killed run staged is known by its name and removed by the next run; nothing else is.
import { spawn, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { HOST_TAG, removeStale, stagingName } from '../../src/formats/stale-staging';
import { caseDir, tempDir } from '../helpers/fixtures';

const BIN = path.join(__dirname, '..', '..', 'bin', 'repvgg-convert.js');

/** A pid that was just used and is gone. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

test('only entries named as ours, of this host and user, of the kind named, whose process is gone', () => {
  const dir = tempDir();
  const dead = deadPid();
  const other = HOST_TAG === 'h00000000' ? 'h11111111' : 'h00000000';
  const live = spawn('sleep', ['30']);
  try {
    const file = (name: string) => fs.writeFileSync(path.join(dir, name), 'x');
    const folder = (name: string) => (fs.mkdirSync(path.join(dir, name)), fs.writeFileSync(path.join(dir, name, 'inside'), 'x'));
    const gone = [`.deploy.onnx.${dead}.${HOST_TAG}.m1.tmp`, `.deploy.onnx.${dead}.m1.tmp`, `.a.b.onnx.${dead}.${HOST_TAG}.m1.staging`, `.deploy.onnx.${dead}.${HOST_TAG}.m1.check`];
    const kept = [
      'deploy.onnx',
      '.deploy.onnx.notes',
      `.deploy.onnx.${dead}.${other}.m1.tmp`, // another host's: its pid means nothing here
      `.deploy.onnx.${live.pid}.${HOST_TAG}.m1.tmp`, // alive
      `.deploy.onnx.${process.pid}.${HOST_TAG}.m1.tmp`, // this process
      `.deploy.onnx.${dead}.${HOST_TAG}.m2.check.txt`,
      `.dir.onnx.${dead}.${HOST_TAG}.m1.tmp`, // a folder where a file is named
    ];
    gone.forEach((n) => (n.endsWith('.tmp') ? file(n) : folder(n)));
    kept.forEach((n) => (n.startsWith('.dir') ? folder(n) : file(n)));
    const removed = removeStale(dir, 'beside');
    expect(removed.map((r) => path.basename(r.path)).sort()).toEqual([...gone].sort());
    expect(removed.every((r) => r.pid === dead)).toBe(true);
    expect(fs.readdirSync(dir).sort()).toEqual([...kept].sort());
  } finally {
    live.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('staged names carry the pid and host, and are recognised', () => {
  const name = stagingName('deploy.onnx', 'tmp');
  expect(name).toMatch(new RegExp(`^\\.deploy\\.onnx\\.${process.pid}\\.${HOST_TAG}\\.[0-9a-z]+\\.tmp$`));
});

test('a run killed with SIGKILL leaves its staged file; the next run removes it and says so', async () => {
  const dir = tempDir();
  try {
    const out = path.join(dir, 'deploy.onnx');
    fs.writeFileSync(out, 'an earlier output');
    const child = spawn(process.execPath, [BIN, path.join(caseDir('repvgg-bn'), 'train.onnx'), out], { stdio: 'ignore' });
    // Killed as soon as anything staged appears beside the output (the check runs on the staged file).
    const staged = await new Promise<string[]>((resolve, reject) => {
      const poll = setInterval(() => {
        const s = fs.readdirSync(dir).filter((n) => n.startsWith('.'));
        if (s.length) {
          child.kill('SIGKILL');
          clearInterval(poll);
          resolve(s);
        }
      }, 5);
      child.on('exit', () => {
        clearInterval(poll);
        reject(new Error('the run ended before it staged anything'));
      });
    });
    await new Promise((r) => child.on('close', r));
    expect(staged.length).toBeGreaterThan(0);
    expect(fs.readdirSync(dir).some((n) => n.startsWith('.'))).toBe(true);
    expect(fs.readFileSync(out, 'utf8')).toBe('an earlier output');

    const again = spawnSync(process.execPath, [BIN, path.join(caseDir('repvgg-bn'), 'train.onnx'), out, '--no-verify'], { encoding: 'utf8' });
    expect(again.status).toBe(0);
    expect(again.stderr).toMatch(new RegExp(`removed .*\\.deploy\\.onnx\\.${child.pid}\\.${HOST_TAG}\\.[0-9a-z]+\\.(tmp|check|staging), left by a run that was killed \\(process ${child.pid} is gone\\)`));
    expect(fs.readdirSync(dir)).toEqual(['deploy.onnx']);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
