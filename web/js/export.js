// Downloading a dataset's annotations as a COCO file, from the dataset page and the editor.
import { download } from './api.js';
import { notify, saveBlob } from './ui.js';

// Saves the dataset's COCO export; a failure is shown as a notice, never thrown.
export async function exportCoco(datasetId, name) {
  try {
    const { blob, filename } = await download(`/api/sam/dataset/${encodeURIComponent(datasetId)}/export/coco`,
      `${name || datasetId}.coco.json`);
    saveBlob(blob, filename);
  } catch (error) {
    notify(error);
  }
}
