// The image editor: click to segment with POST /api/sam/predict, label objects, move
// between images.
//
// Three canvases are stacked: the picture and the mask overlay at the image's own pixel size
// (so a mask pixel is a canvas pixel), and the prompts (points, box) on top at screen
// resolution. Left click adds a foreground point, right click or Alt+click a background
// point, a drag draws a box; each prompt asks for a new mask refined from the previous one
// (`refine_from`). Saved objects are annotations on the server.
import { api } from './api.js';
import { exportCoco } from './dataset.js';
import { decodeRle, paintMask, paintOutline } from './rle.js';
import { getDataset, setDataset } from './state.js';
import { el, clear, confirmAction, notify, plural } from './ui.js';

const CURRENT_FILL = [37, 99, 235, 115];
const CURRENT_EDGE = [255, 255, 255, 255];
const PALETTE = [
  [234, 88, 12], [22, 163, 74], [219, 39, 119], [202, 138, 4], [8, 145, 178], [124, 58, 237], [220, 38, 38],
];
const DRAG_THRESHOLD = 5;  // screen pixels before a press becomes a box

function colourOf(index) {
  return PALETTE[index % PALETTE.length];
}

function rgb([r, g, b]) {
  return `rgb(${r}, ${g}, ${b})`;
}

function loadImage(url) {
  return new Promise((resolve, reject) => {
    const image = new Image();
    image.addEventListener('load', () => resolve(image));
    image.addEventListener('error', () => reject(new Error(`the picture ${url} could not be loaded`)));
    image.src = url;
  });
}

export function renderEditor({ main, setCrumbs }, datasetId, imageId) {
  let alive = true;
  const datasetHref = `#/d/${encodeURIComponent(datasetId)}`;
  setCrumbs([{ label: 'Datasets', href: '#/' }, { label: '…', href: datasetHref }, { label: '…' }]);

  // --- layout -----------------------------------------------------------------------------
  const imageLayer = el('canvas.layer.layer-image#image-layer');
  const maskLayer = el('canvas.layer.layer-mask#mask-layer');
  const promptLayer = el('canvas.layer.layer-prompts#prompt-layer', {
    tabindex: '0',
    'aria-label': 'Image: click to add a point to the object, right-click or Alt+click to exclude, drag to draw a box',
  });
  const stage = el('div.stage#stage', {}, imageLayer, maskLayer, promptLayer);
  const loading = el('div.stage-loading', { role: 'status' }, 'Loading the picture…');
  const stageWrap = el('div.stage-wrap', {}, stage, loading);

  const title = el('h1.editor-title#editor-title', {}, '…');
  const position = el('span.muted#editor-position');
  const prevButton = el('button.btn#prev-image', { type: 'button', 'aria-label': 'Previous image (←)' }, '← Prev');
  const nextButton = el('button.btn#next-image', { type: 'button', 'aria-label': 'Next image (→)' }, 'Next →');
  const undoButton = el('button.btn#undo', { type: 'button', disabled: true, title: 'Undo the last prompt (Z)' }, '↶ Undo');
  const clearButton = el('button.btn#clear', { type: 'button', disabled: true, title: 'Remove every prompt (Esc)' }, 'Clear');
  const categoryInput = el('input.input#category', {
    type: 'text', placeholder: 'e.g. car', maxlength: '200', list: 'categories', autocomplete: 'off',
  });
  const categoryList = el('datalist#categories');
  const saveButton = el('button.btn.btn-primary#save-object', { type: 'submit', disabled: true }, 'Save object');
  const objectForm = el('form.object-form#object-form', {},
    el('label', { for: 'category' }, 'Object name (category)'),
    el('div.object-form-row', {}, categoryInput, saveButton), categoryList);
  const status = el('p.editor-status#editor-status', { role: 'status', 'aria-live': 'polite' },
    'Click on the object to segment it.');
  const objectsList = el('ul.objects#objects');
  const objectsTitle = el('h2.side-title', {}, 'Objects');
  const exportButton = el('button.btn#editor-export', { type: 'button' }, '⬇ Export COCO');

  main.append(el('div.editor', {},
    stageWrap,
    el('aside.editor-side', { 'aria-label': 'Segmentation tools' },
      el('div.side-block', {}, title,
        el('div.nav-row', {}, prevButton, position, nextButton)),
      el('div.side-block', {},
        el('p.help', {},
          el('span', {}, el('kbd', {}, 'Click'), ' add to the object'),
          el('span', {}, el('kbd', {}, 'Right-click'), ' / ', el('kbd', {}, 'Alt'), '+click exclude'),
          el('span', {}, el('kbd', {}, 'Drag'), ' box'),
          el('span', {}, el('kbd', {}, '←'), el('kbd', {}, '→'), ' images')),
        el('div.button-row', {}, undoButton, clearButton),
        status),
      el('div.side-block', {}, objectForm),
      el('div.side-block', {}, objectsTitle, objectsList, el('div.button-row', {}, exportButton)))));

  // --- state ------------------------------------------------------------------------------
  let dataset = null;
  let index = -1;
  let image = null;        // the dataset's image entry
  let history = [];        // [{points, box, prediction, mask}], the last is shown
  let pendingPrompt = null;  // a prompt whose prediction is on its way
  let annotations = [];    // [{annotation, mask}]
  let queue = Promise.resolve();
  let press = null;        // pointer state while a button is down
  let dragBox = null;      // [x0, y0, x1, y1] being drawn

  const current = () => (history.length ? history[history.length - 1] : null);

  // --- drawing ----------------------------------------------------------------------------
  const drawMasks = () => {
    if (!image) return;
    const ctx = maskLayer.getContext('2d');
    const data = ctx.createImageData(image.width, image.height);
    annotations.forEach(({ mask }, i) => {
      const [r, g, b] = colourOf(i);
      paintMask(data, mask, [r, g, b, 90]);
      paintOutline(data, mask, [r, g, b, 255]);
    });
    const shown = current();
    if (shown && shown.mask) {
      paintMask(data, shown.mask, CURRENT_FILL);
      paintOutline(data, shown.mask, CURRENT_EDGE);
    }
    ctx.putImageData(data, 0, 0);
  };

  const toScreen = (x, y) => {
    const scale = promptLayer.width / image.width;
    return [x * scale, y * scale];
  };

  const drawPrompts = () => {
    const rect = promptLayer.getBoundingClientRect();
    const ratio = window.devicePixelRatio || 1;
    const w = Math.max(1, Math.round(rect.width * ratio));
    const h = Math.max(1, Math.round(rect.height * ratio));
    if (promptLayer.width !== w || promptLayer.height !== h) {
      promptLayer.width = w;
      promptLayer.height = h;
    }
    const ctx = promptLayer.getContext('2d');
    ctx.clearRect(0, 0, w, h);
    if (!image) return;
    const shown = current();
    const points = [...(shown ? shown.points : [])];
    let box = shown ? shown.box : null;
    if (pendingPrompt) {
      if (pendingPrompt.point) points.push(pendingPrompt.point);
      if (pendingPrompt.box) box = pendingPrompt.box;
    }
    if (dragBox) box = dragBox;
    if (box) {
      const [x0, y0] = toScreen(box[0], box[1]);
      const [x1, y1] = toScreen(box[2], box[3]);
      ctx.lineWidth = 2 * ratio;
      ctx.strokeStyle = 'rgba(255, 255, 255, 0.95)';
      ctx.setLineDash([6 * ratio, 4 * ratio]);
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.strokeStyle = 'rgba(37, 99, 235, 0.95)';
      ctx.lineDashOffset = 5 * ratio;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.setLineDash([]);
    }
    for (const p of points) {
      const [x, y] = toScreen(p.x, p.y);
      ctx.beginPath();
      ctx.arc(x, y, 6 * ratio, 0, Math.PI * 2);
      ctx.fillStyle = p.label === 1 ? '#16a34a' : '#dc2626';
      ctx.fill();
      ctx.lineWidth = 2 * ratio;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
      ctx.fillStyle = '#fff';
      ctx.fillRect(x - 3 * ratio, y - 0.75 * ratio, 6 * ratio, 1.5 * ratio);
      if (p.label === 1) ctx.fillRect(x - 0.75 * ratio, y - 3 * ratio, 1.5 * ratio, 6 * ratio);
    }
  };

  const updateButtons = () => {
    const shown = current();
    stage.dataset.prompts = String(history.length);  // how many prompts the shown mask answers
    undoButton.disabled = history.length === 0;
    clearButton.disabled = history.length === 0;
    saveButton.disabled = !(shown && shown.mask);
    prevButton.disabled = !dataset || index <= 0;
    nextButton.disabled = !dataset || index < 0 || index >= dataset.images.length - 1;
  };

  const redraw = () => {
    drawMasks();
    drawPrompts();
    updateButtons();
  };

  const setStatus = (text) => {
    status.textContent = text;
  };

  // --- objects ----------------------------------------------------------------------------
  const renderObjects = () => {
    clear(objectsList);
    objectsTitle.textContent = annotations.length ? `Objects (${annotations.length})` : 'Objects';
    if (annotations.length === 0) {
      objectsList.append(el('li.empty', {}, 'None yet: segment an object, name it and save it.'));
    }
    annotations.forEach(({ annotation }, i) => {
      const remove = el('button.btn.btn-quiet.btn-icon', {
        type: 'button', 'aria-label': `Delete object ${annotation.category}`, title: 'Delete this object',
      }, '×');
      remove.addEventListener('click', async () => {
        if (!(await confirmAction(`Delete the object “${annotation.category}”?`))) return;
        try {
          await api('DELETE', `/api/sam/annotation/${encodeURIComponent(annotation.id)}`);
          annotations = annotations.filter((a) => a.annotation.id !== annotation.id);
          adjustCount(-1);
          renderObjects();
          redraw();
        } catch (error) {
          notify(error);
        }
      });
      objectsList.append(el('li.object', { dataset: { annotationId: annotation.id } },
        el('span.swatch', { style: `background: ${rgb(colourOf(i))}`, 'aria-hidden': 'true' }),
        el('span.object-name', {}, annotation.category),
        el('span.object-area.muted', {}, `${annotation.area} px`),
        remove));
    });
    clear(categoryList);
    const names = new Set(annotations.map((a) => a.annotation.category));
    for (const name of names) categoryList.append(el('option', { value: name }));
  };

  const adjustCount = (delta) => {
    if (image) image.annotation_count = Math.max(0, (image.annotation_count || 0) + delta);
  };

  objectForm.addEventListener('submit', (e) => {
    e.preventDefault();
    queue = queue.then(saveObject);
  });

  const saveObject = async () => {
    const shown = current();
    if (!shown || !shown.mask) return;
    const category = categoryInput.value.trim();
    if (!category) {
      notify('give the object a name (its category) before saving it');
      categoryInput.focus();
      return;
    }
    saveButton.disabled = true;
    try {
      const best = shown.prediction.masks[0];
      const annotation = await api('POST', `/api/sam/image/${encodeURIComponent(image.id)}/annotations`, {
        category,
        segmentation: best.rle,
        score: best.score,
        prompt: { points: shown.points, box: shown.box, prediction_id: shown.prediction.prediction_id },
      });
      annotations.push({ annotation, mask: decodeRle(annotation.segmentation) });
      adjustCount(1);
      history = [];
      renderObjects();
      redraw();
      setStatus(`Saved “${category}”. Click on the next object.`);
      promptLayer.focus();
    } catch (error) {
      notify(error);
      updateButtons();
    }
  };

  // --- prompts ----------------------------------------------------------------------------
  const predict = async (prompt) => {
    const base = current();
    const points = [...(base ? base.points : [])];
    let box = base ? base.box : null;
    if (prompt.point) points.push(prompt.point);
    if (prompt.box) box = prompt.box;
    const body = { image_id: image.id };
    if (points.length) body.points = points;
    if (box) body.box = box;
    if (base) body.refine_from = base.prediction.prediction_id;
    const started = performance.now();
    setStatus('Segmenting…');
    let prediction;
    try {
      prediction = await api('POST', '/api/sam/predict', body);
    } catch (error) {
      // The server forgets old predictions: ask again without the refinement.
      if (body.refine_from && error.status === 400 && /refine_from/.test(error.message)) {
        delete body.refine_from;
        prediction = await api('POST', '/api/sam/predict', body);
      } else {
        throw error;
      }
    }
    const requestedFor = body.image_id;
    if (!alive || !image || image.id !== requestedFor) return;
    const mask = prediction.masks.length ? decodeRle(prediction.masks[0].rle) : null;
    history.push({ points, box, prediction, mask });
    const ms = Math.round(performance.now() - started);
    const area = prediction.masks.length ? prediction.masks[0].area : 0;
    setStatus(`Mask: ${area} px${prediction.masks.length ? `, score ${prediction.masks[0].score.toFixed(2)}` : ''} • `
      + `embedding ${prediction.embedding} • ${ms} ms`);
    if (prediction.embedding === 'computed') markCached(image);
  };

  const markCached = (entry) => {
    entry.embedding_cached = true;
  };

  const addPrompt = (prompt) => {
    if (!image) return;
    pendingPrompt = prompt;
    drawPrompts();
    queue = queue.then(async () => {
      try {
        await predict(prompt);
      } catch (error) {
        notify(error);
        setStatus(`The mask could not be computed: ${error.message}`);
      } finally {
        pendingPrompt = null;
        if (alive) redraw();
      }
    });
  };

  const undo = () => {
    queue = queue.then(() => {
      history.pop();
      setStatus(history.length ? 'Undone.' : 'Click on the object to segment it.');
      redraw();
    });
  };
  const clearPrompts = () => {
    queue = queue.then(() => {
      history = [];
      setStatus('Cleared. Click on the object to segment it.');
      redraw();
    });
  };
  undoButton.addEventListener('click', undo);
  clearButton.addEventListener('click', clearPrompts);

  // Image coordinates of a pointer event, clamped to the picture.
  const imagePoint = (e) => {
    const rect = promptLayer.getBoundingClientRect();
    const x = ((e.clientX - rect.left) / rect.width) * image.width;
    const y = ((e.clientY - rect.top) / rect.height) * image.height;
    return {
      x: Math.min(image.width - 0.5, Math.max(0, Math.round(x * 10) / 10)),
      y: Math.min(image.height - 0.5, Math.max(0, Math.round(y * 10) / 10)),
    };
  };

  promptLayer.addEventListener('contextmenu', (e) => e.preventDefault());
  promptLayer.addEventListener('pointerdown', (e) => {
    if (!image || (e.button !== 0 && e.button !== 2)) return;
    e.preventDefault();
    promptLayer.focus();
    promptLayer.setPointerCapture(e.pointerId);
    press = { start: imagePoint(e), sx: e.clientX, sy: e.clientY, button: e.button, alt: e.altKey, dragging: false };
  });
  promptLayer.addEventListener('pointermove', (e) => {
    if (!press || press.button !== 0) return;
    if (!press.dragging && Math.hypot(e.clientX - press.sx, e.clientY - press.sy) < DRAG_THRESHOLD) return;
    press.dragging = true;
    const p = imagePoint(e);
    dragBox = [Math.min(press.start.x, p.x), Math.min(press.start.y, p.y),
      Math.max(press.start.x, p.x), Math.max(press.start.y, p.y)];
    drawPrompts();
  });
  const endPress = (e, cancelled) => {
    if (!press) return;
    const done = press;
    press = null;
    if (cancelled) {
      dragBox = null;
      drawPrompts();
      return;
    }
    if (done.dragging) {
      const box = dragBox;
      dragBox = null;
      if (box && box[2] - box[0] >= 1 && box[3] - box[1] >= 1) addPrompt({ box });
      else drawPrompts();
      return;
    }
    const label = done.button === 2 || done.alt || e.altKey ? 0 : 1;
    const { x, y } = done.start;
    addPrompt({ point: { x, y, label } });
  };
  promptLayer.addEventListener('pointerup', (e) => endPress(e, false));
  promptLayer.addEventListener('pointercancel', (e) => endPress(e, true));

  // --- moving between images ----------------------------------------------------------------
  const goTo = (i) => {
    if (!dataset || i < 0 || i >= dataset.images.length) return;
    location.hash = `${datasetHref}/i/${encodeURIComponent(dataset.images[i].id)}`;
  };
  prevButton.addEventListener('click', () => goTo(index - 1));
  nextButton.addEventListener('click', () => goTo(index + 1));
  exportButton.addEventListener('click', async () => {
    exportButton.disabled = true;
    await exportCoco(datasetId, dataset && dataset.name);
    exportButton.disabled = false;
  });

  const onKey = (e) => {
    if (e.defaultPrevented || e.ctrlKey || e.metaKey) return;
    const target = e.target;
    if (target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' || target.isContentEditable)) return;
    if (document.querySelector('dialog[open]')) return;
    if (e.key === 'ArrowLeft') {
      e.preventDefault();
      goTo(index - 1);
    } else if (e.key === 'ArrowRight') {
      e.preventDefault();
      goTo(index + 1);
    } else if (e.key === 'z' || e.key === 'Z') {
      if (history.length) undo();
    } else if (e.key === 'Escape') {
      if (history.length) clearPrompts();
    }
  };
  document.addEventListener('keydown', onKey);

  const resize = new ResizeObserver(() => drawPrompts());
  resize.observe(stage);

  // Asks the server to compute the next image's embedding now, so moving on is instant.
  const prefetch = async (next) => {
    if (!next) return;
    new Image().src = next.url;  // the browser keeps the bytes for the next view
    try {
      const answer = await api('POST', `/api/sam/image/${encodeURIComponent(next.id)}/warm`);
      if (answer.embedding === 'cached') markCached(next);
    } catch (error) {
      if (alive) notify(`Could not prepare the next image (${next.filename}) ahead: ${error.message}`);
    }
  };

  // --- loading ------------------------------------------------------------------------------
  const open = async () => {
    try {
      dataset = getDataset(datasetId);
      if (!dataset) {
        dataset = await api('GET', `/api/sam/dataset/${encodeURIComponent(datasetId)}`);
        setDataset(dataset);
      }
      if (!alive) return;
      index = dataset.images.findIndex((i) => i.id === imageId);
      if (index < 0) throw new Error(`the image ${imageId} is not in the dataset “${dataset.name}”`);
      image = dataset.images[index];
      document.title = `samcache — ${image.filename}`;
      setCrumbs([{ label: 'Datasets', href: '#/' }, { label: dataset.name, href: datasetHref },
        { label: image.filename }]);
      title.textContent = image.filename;
      title.title = image.filename;
      position.textContent = `${index + 1} / ${dataset.images.length}`;
      updateButtons();

      stage.style.aspectRatio = `${image.width} / ${image.height}`;
      stage.style.setProperty('--image-ratio', String(image.width / image.height));
      for (const layer of [imageLayer, maskLayer]) {
        layer.width = image.width;
        layer.height = image.height;
      }
      const [picture, listed] = await Promise.all([
        loadImage(image.url),
        api('GET', `/api/sam/image/${encodeURIComponent(image.id)}/annotations`),
      ]);
      if (!alive) return;
      imageLayer.getContext('2d').drawImage(picture, 0, 0, image.width, image.height);
      annotations = listed.annotations.map((annotation) => ({ annotation, mask: decodeRle(annotation.segmentation) }));
      loading.hidden = true;
      stage.dataset.image = image.id;  // which image is ready, for anything waiting on a switch
      stage.classList.add('ready');
      renderObjects();
      redraw();
      promptLayer.focus({ preventScroll: true });
      prefetch(dataset.images[index + 1]);
    } catch (error) {
      if (!alive) return;
      loading.textContent = `This image cannot be shown: ${error.message}`;
      loading.classList.add('error-text');
      notify(error);
    }
  };
  open();

  return () => {
    alive = false;
    document.removeEventListener('keydown', onKey);
    resize.disconnect();
  };
}
