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

// The last dataset read (GET /api/sam/dataset/{id}?model=), so moving between images of the
// editor does not read it again. Its `embedding_cached` marks are for the model it was read for.
let cachedDataset = null;
let cachedModel = null;
export function setDataset(dataset, modelId) {
  cachedDataset = dataset;
  cachedModel = modelId;
}
export function getDataset(id, modelId) {
  return cachedDataset && cachedDataset.id === id && cachedModel === modelId ? cachedDataset : null;
}
