// Generated test pictures: flat coloured shapes on a soft gradient (what the demo model
// segments well, like tests/support/scenes.cpp), written as PNG with node's zlib.
import { deflateSync } from 'node:zlib';

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type, data) {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'ascii');
  data.copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

// An 8-bit RGB PNG of `rgb` (width * height * 3 bytes, row-major).
export function encodePng(width, height, rgb) {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8;   // bit depth
  header[9] = 2;   // colour type: RGB
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y += 1) {
    raw[y * (width * 3 + 1)] = 0;  // filter: none
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (width * 3 + 1) + 1);
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

// A scene with a red rectangle and a green circle, both placed by `variant` so that each
// variant is a different picture. Returns the PNG and where the shapes are.
export function makeScene(variant, width = 320, height = 240) {
  const rect = { x0: 30 + variant * 12, y0: 30 + variant * 6, x1: 150 + variant * 12, y1: 120 + variant * 6 };
  const circle = { cx: 235 - variant * 8, cy: 160, r: 45 };
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const o = (y * width + x) * 3;
      // A light vertical gradient with a little deterministic texture.
      const t = y / (height - 1);
      const wobble = ((x * 7 + y * 13 + variant * 5) % 5) - 2;
      let r = Math.round(215 - 25 * t) + wobble;
      let g = Math.round(220 - 20 * t) + wobble;
      let b = Math.round(228 - 10 * t) + wobble;
      if (x >= rect.x0 && x < rect.x1 && y >= rect.y0 && y < rect.y1) {
        [r, g, b] = [205, 45, 40];
      } else if ((x - circle.cx) ** 2 + (y - circle.cy) ** 2 <= circle.r ** 2) {
        [r, g, b] = [40, 150, 70];
      }
      rgb[o] = r;
      rgb[o + 1] = g;
      rgb[o + 2] = b;
    }
  }
  return { png: encodePng(width, height, rgb), width, height, rect, circle };
}
