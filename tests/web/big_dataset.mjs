// A large dataset for the grid's test, made the fast real way: tiny distinct PNGs written to a
// folder, then `samcache ingest` of that folder into the data folder before the server
// starts (uploading tens of thousands of files through the API would take minutes).
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from './scenes.mjs';

const SIDE = 16;

// The file name of picture i: `img-000042.png`, and every DUPLICATE_EVERY-th one a byte copy of
// the picture before it (so the dataset has duplicates) named `img-000999-copy.png`. Ingest
// reads a folder's files in name order: upload order is i's.
export const DUPLICATE_EVERY = 1000;
export function nameOf(i) {
  const number = String(i).padStart(6, '0');
  return i % DUPLICATE_EVERY === DUPLICATE_EVERY - 1 ? `img-${number}-copy.png` : `img-${number}.png`;
}

// A 16×16 picture of noise seeded by `seed` (xorshift), different for each seed.
function tinyPng(seed) {
  const rgb = new Uint8Array(SIDE * SIDE * 3);
  let x = (seed + 1) * 2654435761 >>> 0 || 1;
  for (let k = 0; k < rgb.length; k += 1) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    rgb[k] = x & 0xff;
  }
  return encodePng(SIDE, SIDE, rgb);
}

// Writes `count` pictures into `dir` (in sub-folders of 1000, which ingest reads in name
// order), picture i made from seed `seedBase` + i. Returns the names in upload order.
export function writePictures(dir, count, seedBase = 0) {
  const names = [];
  let previous = null;
  for (let i = 0; i < count; i += 1) {
    const folder = join(dir, `part-${String(Math.floor(i / 1000)).padStart(4, '0')}`);
    if (i % 1000 === 0) mkdirSync(folder, { recursive: true });
    const bytes = i % DUPLICATE_EVERY === DUPLICATE_EVERY - 1 && previous ? previous : tinyPng(seedBase + i);
    writeFileSync(join(folder, nameOf(i)), bytes);
    previous = bytes;
    names.push(nameOf(i));
  }
  return names;
}

// Runs `samcache ingest --dataset name` of `dir` into `dataDir`/data; resolves its last line.
export function ingest(binary, dataDir, name, dir) {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, ['ingest', '--dataset', name, '--data', join(dataDir, 'data'), dir],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk.toString(); });
    child.stderr.on('data', (chunk) => { output += chunk.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`samcache ingest exited with ${code}:\n${output.slice(-2000)}`));
      const lines = output.trim().split('\n');
      return resolve(lines[lines.length - 1]);
    });
  });
}
