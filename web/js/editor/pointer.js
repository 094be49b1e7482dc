// Pointer input on the prompt layer. Left click adds a point to the object, right click or
// Alt+click a point to exclude; a left press that moves a few pixels draws a box instead.
import { imagePoint } from './canvas.js';

const DRAG_THRESHOLD = 5;  // screen pixels before a press becomes a box

// Listens on `layer`. image() is the image shown (null while none is); onPrompt(prompt) gets
// each finished prompt ({point} or {box}); onDrag() runs when the box being drawn changes
// without a prompt. Returns {dragBox()}: the box being drawn, or null.
export function bindPointer(layer, { image, onPrompt, onDrag }) {
  let press = null;    // the pointer while a button is down
  let dragBox = null;  // [x0, y0, x1, y1] being drawn

  layer.addEventListener('contextmenu', (e) => e.preventDefault());
  layer.addEventListener('pointerdown', (e) => {
    const shown = image();
    if (!shown || (e.button !== 0 && e.button !== 2)) return;
    e.preventDefault();
    layer.focus();
    layer.setPointerCapture(e.pointerId);
    press = {
      start: imagePoint(layer, shown, e.clientX, e.clientY),
      sx: e.clientX, sy: e.clientY, button: e.button, alt: e.altKey, dragging: false,
    };
  });
  layer.addEventListener('pointermove', (e) => {
    if (!press || press.button !== 0) return;
    if (!press.dragging && Math.hypot(e.clientX - press.sx, e.clientY - press.sy) < DRAG_THRESHOLD) return;
    press.dragging = true;
    const p = imagePoint(layer, image(), e.clientX, e.clientY);
    dragBox = [Math.min(press.start.x, p.x), Math.min(press.start.y, p.y),
      Math.max(press.start.x, p.x), Math.max(press.start.y, p.y)];
    onDrag();
  });
  const endPress = (e, cancelled) => {
    if (!press) return;
    const done = press;
    press = null;
    if (cancelled) {
      dragBox = null;
      onDrag();
      return;
    }
    if (done.dragging) {
      const box = dragBox;
      dragBox = null;
      if (box && box[2] - box[0] >= 1 && box[3] - box[1] >= 1) onPrompt({ box });
      else onDrag();
      return;
    }
    const label = done.button === 2 || done.alt || e.altKey ? 0 : 1;
    const { x, y } = done.start;
    onPrompt({ point: { x, y, label } });
  };
  layer.addEventListener('pointerup', (e) => endPress(e, false));
  layer.addEventListener('pointercancel', (e) => endPress(e, true));

  return { dragBox: () => dragBox };
}
