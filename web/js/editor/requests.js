// What the editor asks the server: masks for prompts, an image's saved objects
// (annotations, each returned as {annotation, mask} with its mask decoded), and an embedding
// ahead of time.
import { api } from '../api.js';
import { withModel } from '../models.js';
import { decodeRle } from '../rle.js';

const imagePath = (imageId) => `/api/sam/image/${encodeURIComponent(imageId)}`;

function withMask(annotation) {
  return { annotation, mask: decodeRle(annotation.segmentation) };
}

// POST /api/sam/predict with `body`. The server forgets old predictions: when it no longer
// knows the one to refine, the same prompts are asked again without the refinement.
export async function predict(body) {
  try {
    return await api('POST', '/api/sam/predict', body);
  } catch (error) {
    if (!(body.refine_from && error.status === 400 && /refine_from/.test(error.message))) throw error;
    const fresh = { ...body };
    delete fresh.refine_from;
    return api('POST', '/api/sam/predict', fresh);
  }
}

export async function listObjects(imageId) {
  const listed = await api('GET', `${imagePath(imageId)}/annotations`);
  return listed.annotations.map(withMask);
}

// Saves the best mask of a prompt step ({points, box, prediction}) as an object named
// `category`, made by the model that answered the prediction.
export async function saveObject(imageId, category, step) {
  const best = step.prediction.masks[0];
  const body = {
    category,
    segmentation: best.rle,
    score: best.score,
    prompt: { points: step.points, box: step.box, prediction_id: step.prediction.prediction_id },
  };
  if (step.prediction.model && step.prediction.model.id) body.model = step.prediction.model.id;
  const annotation = await api('POST', `${imagePath(imageId)}/annotations`, body);
  return withMask(annotation);
}

export function deleteObject(annotationId) {
  return api('DELETE', `/api/sam/annotation/${encodeURIComponent(annotationId)}`);
}

// Asks the server to compute an image's embedding for `modelId` now; answers
// {embedding: cached|computing}.
export function warm(imageId, modelId) {
  return api('POST', withModel(`${imagePath(imageId)}/warm`, modelId));
}
