// Where an image sits in its dataset and which images come before and after it, read with the
// listing's `before`/`after` (docs/API.md) instead of the whole list, so moving between images
// and warming the next one work the same in a dataset of any size. A server without paging
// ignores them and answers the whole list, which is then used as it is.
import { api } from '../api.js';
import { withModel } from '../models.js';

function listing(datasetId, modelId, params) {
  const query = new URLSearchParams(params);
  return api('GET', withModel(`/api/sam/dataset/${encodeURIComponent(datasetId)}?${query}`, modelId));
}

function notInDataset(imageId, dataset) {
  return new Error(`the image ${imageId} is not in the dataset “${dataset.name}”`);
}

// The whole list of a server without paging.
function fromList(answer, imageId) {
  const images = answer.images || [];
  const index = images.findIndex((i) => i.id === imageId);
  if (index < 0) throw notInDataset(imageId, answer);
  return {
    dataset: answer, image: images[index], index, count: images.length,
    previous: images[index - 1] || null, next: images[index + 1] || null,
  };
}

// Resolves {dataset (the listing's dataset fields), image, index, count, previous, next} for
// image `imageId` of `datasetId`, marks for `modelId`. `known` is the image's record when the
// page has it already (then it is not read again).
export async function readAround(datasetId, modelId, imageId, known) {
  const [before, after] = await Promise.all([
    listing(datasetId, modelId, { before: imageId, limit: '1' }),
    listing(datasetId, modelId, { after: imageId, limit: '1' }),
  ]);
  if (!before.page) return fromList(before, imageId);
  const previous = before.images.length ? before.images[before.images.length - 1] : null;
  const index = previous ? before.page.offset + before.images.length : 0;
  let image = known;
  if (!image) {
    const at = await listing(datasetId, modelId, previous
      ? { after: previous.id, limit: '1' } : { offset: '0', limit: '1' });
    image = at.images[0];
    if (!image || image.id !== imageId) throw notInDataset(imageId, before);
  }
  return {
    dataset: before, image, index, count: after.page.matched,
    previous, next: after.images[0] || null,
  };
}
