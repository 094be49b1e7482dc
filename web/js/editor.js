// The image editor: click to segment with POST /api/sam/predict, label objects, move
// between images.
//
// Left click adds a foreground point, right click or Alt+click a background point, a drag
// draws a box; each prompt asks for a new mask refined from the previous one (`refine_from`).
// Saved objects are annotations on the server. This view holds the editor's state and wires
// the parts in editor/: layout, canvas (drawing), prompts (the prompt history as plain data),
// objects (the saved objects' list), pointer and keys (input), requests (the server).
// A viewer of the dataset's project sees the picture and its objects and moves between
// images, without prompts, saving or deleting. With several models on the server, a picker
// chooses the model the prompts go to (remembered per dataset, shared with the dataset view),
// and the mask shown and each object name the model that made them.
import { Embedding } from './constants.js';
import { exportCoco } from './export.js';
import { chosenModel, loadModels, modelName, modelPicker, rememberModel } from './models.js';
import { canWriteIn } from './session.js';
import { forgetImages, knownImage, rememberImage } from './state.js';
import { notify } from './ui.js';
import { drawMasks, drawPicture, drawPrompts, loadImage, sizeStage } from './editor/canvas.js';
import { bindKeys } from './editor/keys.js';
import { editorLayout, START_TEXT } from './editor/layout.js';
import { readAround } from './editor/neighbours.js';
import { ObjectsPanel } from './editor/objects.js';
import { bindPointer } from './editor/pointer.js';
import * as prompts from './editor/prompts.js';
import * as requests from './editor/requests.js';

export function renderEditor({ main, setCrumbs }, datasetId, imageId) {
  let alive = true;
  const datasetHref = `#/d/${encodeURIComponent(datasetId)}`;
  setCrumbs([{ label: 'Datasets', href: '#/' }, { label: '…', href: datasetHref }, { label: '…' }]);

  let models = null;                  // GET /api/sam/models, once read
  let modelId = null;                 // the chosen model (null: the server's default)
  const objectsPanel = new ObjectsPanel({
    onDelete: (annotation) => deleteObject(annotation),
    modelName: (id) => modelName(models, id),
  });
  const ui = editorLayout(objectsPanel);
  main.append(ui.root);

  let dataset = null;                 // the dataset's fields (name, project)
  let around = null;                  // {index, count, previous, next} of the image shown
  let image = null;                   // the dataset's image entry
  let history = prompts.NO_PROMPTS;   // the prompt steps, the last is shown
  let pending = null;                 // a prompt whose prediction is on its way
  let objects = [];                   // the saved objects: [{annotation, mask}]
  let queue = Promise.resolve();      // prompts, undo, clear and saves run one after another
  let writable = false;               // known once the dataset (its project) is

  const pointer = bindPointer(ui.promptLayer, {
    image: () => image,
    onPrompt: (prompt) => addPrompt(prompt),
    onDrag: () => redrawPrompts(),
  });

  // --- showing the state -------------------------------------------------------------------
  const redrawPrompts = () => {
    drawPrompts(ui.promptLayer, image, prompts.visiblePrompts(history, pending, pointer.dragBox()));
  };

  const updateButtons = () => {
    const shown = prompts.currentStep(history);
    ui.stage.dataset.prompts = String(history.length);  // how many prompts the shown mask answers
    ui.undoButton.disabled = history.length === 0;
    ui.clearButton.disabled = history.length === 0;
    ui.saveButton.disabled = !(shown && shown.mask);
    ui.prevButton.disabled = !around || !around.previous;
    ui.nextButton.disabled = !around || !around.next;
  };

  // Names the model of the mask shown, the one its prediction says answered it.
  const showMaskModel = (shown) => {
    const model = shown && shown.mask && shown.prediction.model;
    ui.maskModel.hidden = !model;
    ui.maskModel.textContent = model ? `Mask by ${model.name || modelName(models, model.id)}` : '';
  };

  const redraw = () => {
    const shown = prompts.currentStep(history);
    if (image) drawMasks(ui.maskLayer, image, objects, shown && shown.mask);
    showMaskModel(shown);
    redrawPrompts();
    updateButtons();
  };

  const setStatus = (text) => {
    ui.status.textContent = text;
  };

  // Keeps the remembered record's object count in step.
  const adjustCount = (delta) => {
    if (image) image.annotation_count = Math.max(0, (image.annotation_count || 0) + delta);
  };

  // --- prompts -----------------------------------------------------------------------------
  const predict = async (prompt) => {
    const base = prompts.currentStep(history);
    const next = prompts.addPrompt(base, prompt);
    const body = prompts.predictBody(image.id, base, next);
    if (modelId) body.model = modelId;
    const started = performance.now();
    setStatus('Segmenting…');
    const prediction = await requests.predict(body);
    if (!alive || !image || image.id !== body.image_id) return;
    history = prompts.withStep(history, prompts.stepOf(next, prediction));
    setStatus(prompts.describePrediction(prediction, Math.round(performance.now() - started)));
    if (prediction.embedding === Embedding.COMPUTED) image.embedding_cached = true;
  };

  const addPrompt = (prompt) => {
    if (!image || !writable) return;
    pending = prompt;
    redrawPrompts();
    queue = queue.then(async () => {
      try {
        await predict(prompt);
      } catch (error) {
        notify(error);
        setStatus(`The mask could not be computed: ${error.message}`);
      } finally {
        pending = null;
        if (alive) redraw();
      }
    });
  };

  const undo = () => {
    queue = queue.then(() => {
      history = prompts.withoutLastStep(history);
      setStatus(history.length ? 'Undone.' : START_TEXT);
      redraw();
    });
  };
  const clearPrompts = () => {
    queue = queue.then(() => {
      history = prompts.NO_PROMPTS;
      setStatus(`Cleared. ${START_TEXT}`);
      redraw();
    });
  };
  ui.undoButton.addEventListener('click', undo);
  ui.clearButton.addEventListener('click', clearPrompts);

  // Another model: the prompts so far were answered by the one left, so they go; the next
  // image is prepared for the new one.
  const chooseModel = (id) => {
    modelId = id;
    rememberModel(datasetId, id);
    forgetImages();  // their cached marks were the model left's: the next image reads them again
    queue = queue.then(() => {
      history = prompts.NO_PROMPTS;
      setStatus(`Model: ${modelName(models, id)}. ${START_TEXT}`);
      redraw();
    });
    if (around) prefetch(around.next);
  };

  // --- saved objects -----------------------------------------------------------------------
  const saveObject = async () => {
    const shown = prompts.currentStep(history);
    if (!writable || !shown || !shown.mask) return;
    const category = ui.categoryInput.value.trim();
    if (!category) {
      notify('give the object a name (its category) before saving it');
      ui.categoryInput.focus();
      return;
    }
    ui.saveButton.disabled = true;
    try {
      objects = [...objects, await requests.saveObject(image.id, category, shown)];
      adjustCount(1);
      history = prompts.NO_PROMPTS;
      objectsPanel.render(objects);
      redraw();
      setStatus(`Saved “${category}”. Click on the next object.`);
      ui.promptLayer.focus();
    } catch (error) {
      notify(error);
      updateButtons();
    }
  };
  ui.objectForm.addEventListener('submit', (e) => {
    e.preventDefault();
    queue = queue.then(saveObject);
  });

  const deleteObject = async (annotation) => {
    try {
      await requests.deleteObject(annotation.id);
      objects = objects.filter((o) => o.annotation.id !== annotation.id);
      adjustCount(-1);
      objectsPanel.render(objects);
      redraw();
    } catch (error) {
      notify(error);
    }
  };

  ui.exportButton.addEventListener('click', async () => {
    ui.exportButton.disabled = true;
    await exportCoco(datasetId, dataset && dataset.name);
    ui.exportButton.disabled = false;
  });

  // --- moving between images ---------------------------------------------------------------
  // `neighbour` is the record of the previous or next image (read with this one).
  const goTo = (neighbour) => {
    if (!neighbour) return;
    rememberImage(datasetId, modelId, neighbour);
    location.hash = `${datasetHref}/i/${encodeURIComponent(neighbour.id)}`;
  };
  ui.prevButton.addEventListener('click', () => goTo(around && around.previous));
  ui.nextButton.addEventListener('click', () => goTo(around && around.next));

  const unbindKeys = bindKeys({
    previous: () => goTo(around && around.previous),
    next: () => goTo(around && around.next),
    undo,
    clear: clearPrompts,
    hasPrompts: () => history.length > 0,
  });

  const resize = new ResizeObserver(() => redrawPrompts());
  resize.observe(ui.stage);

  // Asks the server to compute the next image's embedding now, so moving on is instant.
  const prefetch = async (next) => {
    if (!next) return;
    new Image().src = next.url;  // the browser keeps the bytes for the next view
    if (!writable) return;  // warming is an annotator's request
    try {
      const answer = await requests.warm(next.id, modelId);
      if (answer.embedding === Embedding.CACHED) next.embedding_cached = true;
    } catch (error) {
      if (alive) notify(`Could not prepare the next image (${next.filename}) ahead: ${error.message}`);
    }
  };

  // --- loading -----------------------------------------------------------------------------
  // The models (for the picker and the objects' model names); without them the editor works
  // with the server's default model.
  const readModels = async () => {
    try {
      models = await loadModels();
    } catch (error) {
      if (error.status !== 401) notify(`The models could not be read: ${error.message}`);
      return;
    }
    if (!alive) return;
    modelId = chosenModel(models, datasetId);
    ui.modelSlot.append(modelPicker(models, modelId, chooseModel));
    ui.modelSlot.hidden = models.models.length < 2;
  };

  const open = async () => {
    try {
      await readModels();
      if (!alive) return;
      const read = await readAround(datasetId, modelId, imageId, knownImage(datasetId, modelId, imageId));
      if (!alive) return;
      dataset = read.dataset;
      around = read;
      image = read.image;
      writable = canWriteIn(dataset.project_id);
      if (!writable) {
        ui.viewOnly();
        objectsPanel.readOnly = true;
        ui.modelSlot.hidden = true;  // no prompts, so nothing for a model to answer
      }
      document.title = `samcache — ${image.filename}`;
      // Back to the grid where this image is.
      const gridHref = around.index > 0 ? `${datasetHref}?at=${around.index}` : datasetHref;
      setCrumbs([{ label: 'Datasets', href: '#/' }, { label: dataset.name, href: gridHref },
        { label: image.filename }]);
      ui.title.textContent = image.filename;
      ui.title.title = image.filename;
      ui.position.textContent = `${around.index + 1} / ${around.count}`;
      updateButtons();
      sizeStage(ui.stage, [ui.imageLayer, ui.maskLayer], image);
      const [picture, listed] = await Promise.all([loadImage(image.url), requests.listObjects(image.id)]);
      if (!alive) return;
      drawPicture(ui.imageLayer, picture, image);
      objects = listed;
      ui.loading.hidden = true;
      ui.stage.dataset.image = image.id;  // which image is ready, for anything waiting on a switch
      ui.stage.classList.add('ready');
      objectsPanel.render(objects);
      redraw();
      ui.promptLayer.focus({ preventScroll: true });
      prefetch(around.next);
    } catch (error) {
      if (!alive) return;
      ui.loading.textContent = `This image cannot be shown: ${error.message}`;
      ui.loading.classList.add('error-text');
      notify(error);
    }
  };
  open();

  return () => {
    alive = false;
    unbindKeys();
    resize.disconnect();
  };
}
