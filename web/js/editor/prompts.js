// The prompts on one image, as plain data. A history is an array of steps
// {points, box, prediction, mask}: the last step is the mask shown, each step's prompts are
// the previous step's plus one, and undo drops the last step. A prompt is {point: {x, y,
// label}} (label 1 includes, 0 excludes) or {box: [x0, y0, x1, y1]}.
//
// Every function here returns a new value and leaves its arguments as they were.
import { decodeRle } from '../rle.js';

export const NO_PROMPTS = Object.freeze([]);

// The step shown, or null when there is none.
export function currentStep(history) {
  return history.length ? history[history.length - 1] : null;
}

export function withStep(history, step) {
  return [...history, step];
}

export function withoutLastStep(history) {
  return history.slice(0, -1);
}

// The points and box of `step` (null: none yet) with `prompt` added: a point joins the
// points, a box replaces the box.
export function addPrompt(step, prompt) {
  const points = [...(step ? step.points : [])];
  let box = step ? step.box : null;
  if (prompt.point) points.push(prompt.point);
  if (prompt.box) box = prompt.box;
  return { points, box };
}

// The body of POST /api/sam/predict for `prompts` ({points, box}), refining the mask of
// `step` when there is one.
export function predictBody(imageId, step, { points, box }) {
  const body = { image_id: imageId };
  if (points.length) body.points = points;
  if (box) body.box = box;
  if (step) body.refine_from = step.prediction.prediction_id;
  return body;
}

// The step a prediction answers: the best mask (the first) decoded, or null when the
// prediction has none.
export function stepOf({ points, box }, prediction) {
  const mask = prediction.masks.length ? decodeRle(prediction.masks[0].rle) : null;
  return { points, box, prediction, mask };
}

// What the prompt layer shows: the shown step's prompts, a prompt whose prediction is on its
// way (`pending`) and a box being dragged (`dragBox`), either of them null.
export function visiblePrompts(history, pending, dragBox) {
  const { points, box } = addPrompt(currentStep(history), pending || {});
  return { points, box: dragBox || box };
}

// The status line after a prediction that took `ms` milliseconds.
export function describePrediction(prediction, ms) {
  const best = prediction.masks.length ? prediction.masks[0] : null;
  return `Mask: ${best ? best.area : 0} px${best ? `, score ${best.score.toFixed(2)}` : ''} • `
    + `embedding ${prediction.embedding} • ${ms} ms`;
}
