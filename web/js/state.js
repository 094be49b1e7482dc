// What the page remembers between views while it stays open.

// The answer of the last upload into each dataset, shown on the dataset's page.
export const lastUpload = new Map();  // dataset id -> upload answer

// Per image, what an upload said about it: {duplicate, near_duplicates}.
export const uploadInfo = new Map();  // image id -> {duplicate, near_duplicates}

export function rememberUpload(answer) {
  lastUpload.set(answer.dataset_id, answer);
  for (const image of answer.images || []) {
    uploadInfo.set(image.id, { duplicate: image.duplicate, near_duplicates: image.near_duplicates || [] });
  }
}

// Image records (as the dataset listing gives them) the page saw last, so the editor opened
// from a card, or moved to a neighbour it read, needs not read the image again. Their
// `embedding_cached` is for the model they were read for. Bounded: the oldest go first.
const KNOWN_LIMIT = 2000;
const known = new Map();  // image id -> {datasetId, modelId, image}

export function rememberImage(datasetId, modelId, image) {
  if (!image) return;
  known.delete(image.id);
  known.set(image.id, { datasetId, modelId, image });
  if (known.size > KNOWN_LIMIT) known.delete(known.keys().next().value);
}

// The record of image `id` of `datasetId` read for `modelId`, or null.
export function knownImage(datasetId, modelId, id) {
  const entry = known.get(id);
  return entry && entry.datasetId === datasetId && entry.modelId === modelId ? entry.image : null;
}

// Forgets the records (another model: their cached marks were the other model's).
export function forgetImages() {
  known.clear();
}
