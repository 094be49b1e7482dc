// One dataset: its thumbnails (⚡ cached / ⏳ not yet, duplicates marked) in a virtual grid
// read page by page (imagegrid.js), adding images, pre-warming with live progress, COCO export
// and deletion. With several models on the server, a picker chooses the model the marks and
// the pre-warm are for (remembered per dataset).
import { api } from './api.js';
import { exportCoco } from './export.js';
import { deletedText, formatDate, plural } from './format.js';
import { imageGrid } from './imagegrid.js';
import { chosenModel, loadModels, modelName, modelPicker, rememberModel } from './models.js';
import { PrewarmPanel } from './prewarm.js';
import { canWriteIn } from './session.js';
import { lastUpload, rememberUpload } from './state.js';
import { el, clear, confirmAction, notify } from './ui.js';
import { uploadBox, uploadReport } from './upload.js';

export function renderDataset({ main, setCrumbs }, datasetId) {
  let alive = true;
  const href = `#/d/${encodeURIComponent(datasetId)}`;
  setCrumbs([{ label: 'Datasets', href: '#/' }, { label: '…' }]);
  const header = el('div.dataset-head');
  const toolbar = el('div.toolbar', { role: 'toolbar', 'aria-label': 'Dataset actions' });
  const report = el('div.report-slot#upload-report');
  const modelSlot = el('div.model-choice', { hidden: true });
  let dataset = null;
  let models = null;        // GET /api/sam/models, once read
  let modelId = null;       // the chosen model (null until known: the server's default)
  let generation = 0;       // bumped when the model changes, so older answers are dropped

  const prewarm = new PrewarmPanel({
    datasetId,
    model: () => modelId,
    modelLabel: (s) => (models && models.models.length > 1
      ? `Model: ${s.model_name || modelName(models, s.model_id)}` : ''),
    onImage: (e) => images.imageEvent(e),
    onFinished: () => images.refresh(),
    onError: (error) => notify(error),
  });

  const images = imageGrid({
    datasetId,
    href,
    onAnswer: (answer) => shown(answer),
    onCounts: () => {
      if (dataset) renderMeta();
    },
    onError: (error, first) => failed(error, first),
  });

  const exportButton = el('button.btn#export-coco', { type: 'button' }, '⬇ Export COCO');
  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    await exportCoco(datasetId, dataset && dataset.name);
    exportButton.disabled = false;
  });
  const deleteButton = el('button.btn.btn-quiet.btn-danger-text', { type: 'button' }, 'Delete dataset');
  deleteButton.addEventListener('click', async () => {
    const ok = await confirmAction(`Delete the dataset “${dataset ? dataset.name : datasetId}” and its images? `
      + 'Files that other datasets also hold stay stored; cached embeddings stay cached.');
    if (!ok) return;
    try {
      const answer = await api('DELETE', `/api/sam/dataset/${encodeURIComponent(datasetId)}`);
      notify(deletedText(dataset ? dataset.name : datasetId, answer), 'info');
      location.hash = '#/';
    } catch (error) {
      notify(error);
    }
  });
  toolbar.append(...prewarm.buttons(), exportButton, deleteButton);

  const add = uploadBox({
    title: 'Add images',
    hint: 'Drop more images or a folder here, or choose them.',
    path: () => `/api/sam/dataset/${encodeURIComponent(datasetId)}/images`,
    onUploaded: (answer) => {
      rememberUpload(answer);
      showReport(answer);
      images.refresh();
    },
    onFailed: (error) => {
      notify(error);
      if (error.body && Array.isArray(error.body.errors) && error.body.errors.length) {
        showReport({ ...error.body, name: dataset ? dataset.name : datasetId });
      }
    },
  });
  add.classList.add('dropzone-compact');

  const showReport = (answer) => {
    clear(report);
    const close = el('button.btn.btn-quiet.report-close', { type: 'button', 'aria-label': 'Hide the upload result' }, '×');
    close.addEventListener('click', () => {
      lastUpload.delete(datasetId);
      clear(report);
    });
    const box = uploadReport(answer);
    box.prepend(close);
    report.append(box);
  };

  main.append(el('div.dataset', {},
    el('section.panel', {}, header, modelSlot, toolbar, prewarm.node),
    report,
    el('section.panel', { 'aria-labelledby': 'images-title' },
      el('div.panel-head', {}, el('h2#images-title', {}, 'Images'),
        el('span.legend.muted', {}, '⚡ cached • ⏳ not cached yet')),
      images.node),
    add));

  const meta = el('p.muted.dataset-meta#dataset-meta');
  // The counts follow the prewarm's events, so they move with a running prewarm.
  const renderMeta = () => {
    const total = dataset.image_count;
    meta.textContent = `${plural(total, 'image')} • ${images.cached()} of ${total} `
      + `embeddings cached • created ${formatDate(dataset.created_at)}`;
  };

  const renderHeader = () => {
    clear(header);
    header.append(el('h1#dataset-title', {}, dataset.name), meta);
    renderMeta();
  };

  let following = false;
  // The first answer of each reading: the dataset's fields (its images are the grid's).
  const shown = async (answer) => {
    const asked = generation;
    dataset = answer;
    // A viewer of the dataset's project sees it without the buttons the server would refuse.
    const writable = canWriteIn(dataset.project_id);
    for (const button of [...prewarm.buttons(), deleteButton]) button.classList.toggle('view-only-hidden', !writable);
    add.hidden = !writable;
    document.title = `samcache — ${dataset.name}`;
    setCrumbs([{ label: 'Datasets', href: '#/' }, { label: dataset.name }]);
    renderHeader();
    // A page opened while a prewarm of the chosen model runs follows it.
    if (dataset.prewarm_job && !following && !prewarm.source) {
      following = true;
      try {
        const snapshot = await api('GET', `/api/sam/prewarm/${encodeURIComponent(dataset.prewarm_job.job_id)}`);
        const ours = !modelId || !snapshot.model_id || snapshot.model_id === modelId;
        if (alive && asked === generation && ours) prewarm.follow(snapshot);
      } catch (error) {
        if (alive) notify(error);
      }
    }
  };

  const failed = (error, first) => {
    if (!alive) return;
    notify(error);
    if (first && !dataset) {
      clear(header);
      header.append(el('h1', {}, 'Dataset not available'), el('p.error-text', {}, error.message),
        el('a', { href: '#/' }, 'Back to the datasets'));
      toolbar.hidden = true;
      add.hidden = true;
    }
  };

  // Another model: its marks and its pre-warm job (a job of the model left goes on unseen).
  const chooseModel = (id) => {
    modelId = id;
    rememberModel(datasetId, id);
    generation += 1;
    following = false;
    prewarm.reset();
    images.open(id);
  };

  // The models first, so the first listing is already the chosen model's; without the list
  // (it could not be read) the page works with the server's default.
  const start = async () => {
    try {
      models = await loadModels();
      if (!alive) return;
      modelId = chosenModel(models, datasetId);
      modelSlot.append(modelPicker(models, modelId, chooseModel));
      modelSlot.hidden = models.models.length < 2;
    } catch (error) {
      if (!alive) return;
      if (error.status !== 401) notify(`The models could not be read: ${error.message}`);
    }
    images.open(modelId);
  };

  const pending = lastUpload.get(datasetId);
  if (pending) showReport(pending);
  start();
  return () => {
    alive = false;
    prewarm.stop();
    images.stop();
  };
}
