// Drawing the editor's three stacked canvases. The picture and the mask overlay are at the
// image's own pixel size (so a mask pixel is a canvas pixel); the prompts (points, box) are
// on top at screen resolution, so they stay sharp however the picture is scaled.
import { checkSession } from '../api.js';
import { paintMask, paintOutline } from '../rle.js';

const CURRENT_FILL = [37, 99, 235, 115];
const CURRENT_EDGE = [255, 255, 255, 255];
const PALETTE = [
  [234, 88, 12], [22, 163, 74], [219, 39, 119], [202, 138, 4], [8, 145, 178], [124, 58, 237], [220, 38, 38],
];

// The colour of the saved object at `index`, on the canvas and in the objects list.
export function colourOf(index) {
  return PALETTE[index % PALETTE.length];
}

export function rgb([r, g, b]) {
  return `rgb(${r}, ${g}, ${b})`;
}

export function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.addEventListener('load', () => resolve(image));
    image.addEventListener('error', () => {
      checkSession();  // a lost session brings the login screen
      reject(new Error(`the picture ${url} could not be loaded`));
    });
    image.src = url;
  });
}

// Gives the stage the image's shape and the pixel layers its size.
export function sizeStage(stage, pixelLayers, image) {
  stage.style.aspectRatio = `${image.width} / ${image.height}`;
  stage.style.setProperty('--image-ratio', String(image.width / image.height));
  for (const layer of pixelLayers) {
    layer.width = image.width;
    layer.height = image.height;
  }
}

export function drawPicture(layer, picture, image) {
  layer.getContext('2d').drawImage(picture, 0, 0, image.width, image.height);
}

// The saved objects ([{mask}], each in its colour) and the mask being made (`shownMask`, or
// null) on top.
export function drawMasks(layer, image, objects, shownMask) {
  const ctx = layer.getContext('2d');
  const data = ctx.createImageData(image.width, image.height);
  objects.forEach(({ mask }, i) => {
    const [r, g, b] = colourOf(i);
    paintMask(data, mask, [r, g, b, 90]);
    paintOutline(data, mask, [r, g, b, 255]);
  });
  if (shownMask) {
    paintMask(data, shownMask, CURRENT_FILL);
    paintOutline(data, shownMask, CURRENT_EDGE);
  }
  ctx.putImageData(data, 0, 0);
}

// Matches the prompt layer to its size on screen, clears it, and draws `points` and `box`
// (image coordinates) when there is an image.
export function drawPrompts(layer, image, { points, box }) {
  const rect = layer.getBoundingClientRect();
  const ratio = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(rect.width * ratio));
  const h = Math.max(1, Math.round(rect.height * ratio));
  if (layer.width !== w || layer.height !== h) {
    layer.width = w;
    layer.height = h;
  }
  const ctx = layer.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  if (!image) return;
  const scale = layer.width / image.width;
  if (box) drawBox(ctx, box.map((v) => v * scale), ratio);
  for (const p of points) drawPoint(ctx, p.x * scale, p.y * scale, p.label, ratio);
}

// A dashed white and blue outline, visible on light and dark pictures.
function drawBox(ctx, [x0, y0, x1, y1], ratio) {
  ctx.lineWidth = 2 * ratio;
  ctx.strokeStyle = 'rgba(255, 255, 255, 0.95)';
  ctx.setLineDash([6 * ratio, 4 * ratio]);
  ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  ctx.strokeStyle = 'rgba(37, 99, 235, 0.95)';
  ctx.lineDashOffset = 5 * ratio;
  ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
  ctx.setLineDash([]);
}

// A green dot with a plus (include) or a red dot with a minus (exclude).
function drawPoint(ctx, x, y, label, ratio) {
  ctx.beginPath();
  ctx.arc(x, y, 6 * ratio, 0, Math.PI * 2);
  ctx.fillStyle = label === 1 ? '#16a34a' : '#dc2626';
  ctx.fill();
  ctx.lineWidth = 2 * ratio;
  ctx.strokeStyle = '#fff';
  ctx.stroke();
  ctx.fillStyle = '#fff';
  ctx.fillRect(x - 3 * ratio, y - 0.75 * ratio, 6 * ratio, 1.5 * ratio);
  if (label === 1) ctx.fillRect(x - 0.75 * ratio, y - 3 * ratio, 1.5 * ratio, 6 * ratio);
}

// The image coordinates under a pointer at (clientX, clientY), to a tenth of a pixel,
// clamped to the picture.
export function imagePoint(layer, image, clientX, clientY) {
  const rect = layer.getBoundingClientRect();
  const x = ((clientX - rect.left) / rect.width) * image.width;
  const y = ((clientY - rect.top) / rect.height) * image.height;
  return {
    x: Math.min(image.width - 0.5, Math.max(0, Math.round(x * 10) / 10)),
    y: Math.min(image.height - 0.5, Math.max(0, Math.round(y * 10) / 10)),
  };
}
