// COCO run-length encoded masks, as pycocotools writes them: runs alternate background and
// foreground, starting with background, over the pixels in column-major order; `counts` is
// the compressed string form (rleToString / rleFrString in pycocotools' maskApi.c).

// The run lengths of a compressed `counts` string.
export function decodeCounts(text) {
  const counts = [];
  let p = 0;
  while (p < text.length) {
    let x = 0;
    let k = 0;
    let more = true;
    while (more) {
      if (p >= text.length) throw new Error('the mask\'s RLE counts string ends in the middle of a number');
      const c = text.charCodeAt(p) - 48;
      x += (c & 0x1f) * 2 ** (5 * k);
      more = (c & 0x20) !== 0;
      p += 1;
      k += 1;
      if (!more && (c & 0x10)) x -= 2 ** (5 * k);  // sign extension
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

// {width, height, data}: data is a Uint8Array in row-major order, 1 inside the mask.
export function decodeRle(rle) {
  if (!rle || !Array.isArray(rle.size) || rle.size.length !== 2) throw new Error('a mask without a [height, width] size');
  const [height, width] = rle.size;
  const counts = typeof rle.counts === 'string' ? decodeCounts(rle.counts) : rle.counts;
  const data = new Uint8Array(width * height);
  const total = width * height;
  let index = 0;  // column-major position
  let value = 0;
  for (const run of counts) {
    if (run < 0 || index + run > total) throw new Error('the mask\'s runs do not fit its size');
    if (value === 1) {
      let x = Math.floor(index / height);
      let y = index - x * height;
      for (let n = 0; n < run; n += 1) {
        data[y * width + x] = 1;
        y += 1;
        if (y === height) {
          y = 0;
          x += 1;
        }
      }
    }
    index += run;
    value = 1 - value;
  }
  return { width, height, data };
}

// Paints a decoded mask into an ImageData of the same size with an RGBA colour; other pixels
// stay as they are.
export function paintMask(imageData, mask, [r, g, b, a]) {
  const px = imageData.data;
  for (let i = 0; i < mask.data.length; i += 1) {
    if (mask.data[i] === 0) continue;
    const o = i * 4;
    px[o] = r;
    px[o + 1] = g;
    px[o + 2] = b;
    px[o + 3] = a;
  }
}

// The outline of a mask: inside pixels with a 4-neighbour outside (or at the border).
export function paintOutline(imageData, mask, [r, g, b, a]) {
  const { width, height, data } = mask;
  const px = imageData.data;
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = y * width + x;
      if (!data[i]) continue;
      const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 ||
        !data[i - 1] || !data[i + 1] || !data[i - width] || !data[i + width];
      if (!edge) continue;
      const o = i * 4;
      px[o] = r;
      px[o + 1] = g;
      px[o + 2] = b;
      px[o + 3] = a;
    }
  }
}
