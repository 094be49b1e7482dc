// The editor's elements: the stage (picture, mask overlay and prompt layer stacked) and the
// side panel (navigation, the model picker, help, undo and clear, the model of the mask shown,
// the object form or a viewer's note, the objects list). The ids and classes are the ones style.css and the page's end-to-end test know.
import { el } from '../ui.js';

// The status line while there is no prompt.
export const START_TEXT = 'Click on the object to segment it.';

// Builds the editor around `objects` (an ObjectsPanel) and returns its parts by name;
// `root` is the whole.
export function editorLayout(objects) {
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
  const saveButton = el('button.btn.btn-primary#save-object', { type: 'submit', disabled: true }, 'Save object');
  const objectForm = el('form.object-form#object-form', {},
    el('label', { for: 'category' }, 'Object name (category)'),
    el('div.object-form-row', {}, categoryInput, saveButton), objects.categories);
  const status = el('p.editor-status#editor-status', { role: 'status', 'aria-live': 'polite' }, START_TEXT);
  const maskModel = el('p.mask-model#mask-model', { hidden: true });  // which model made the mask shown
  const modelSlot = el('div.model-choice#editor-model', { hidden: true });  // the picker, with several models
  const exportButton = el('button.btn#editor-export', { type: 'button' }, '⬇ Export COCO');
  const helpBlock = el('div.side-block', {},
    el('p.help', {},
      el('span', {}, el('kbd', {}, 'Click'), ' add to the object'),
      el('span', {}, el('kbd', {}, 'Right-click'), ' / ', el('kbd', {}, 'Alt'), '+click exclude'),
      el('span', {}, el('kbd', {}, 'Drag'), ' box'),
      el('span', {}, el('kbd', {}, '←'), el('kbd', {}, '→'), ' images')),
    el('div.button-row', {}, undoButton, clearButton),
    status, maskModel);
  const formBlock = el('div.side-block', {}, objectForm);
  // A viewer's editor shows this in place of the tools that change anything.
  const viewOnlyBlock = el('div.side-block#editor-view-only', { hidden: true },
    el('p.view-only-note', {}, 'View only: you may look at this project\'s images and objects, not change them.'));

  const root = el('div.editor', {},
    stageWrap,
    el('aside.editor-side', { 'aria-label': 'Segmentation tools' },
      el('div.side-block', {}, title,
        el('div.nav-row', {}, prevButton, position, nextButton), modelSlot),
      helpBlock, formBlock, viewOnlyBlock,
      el('div.side-block', {}, objects.title, objects.list, el('div.button-row', {}, exportButton))));

  return {
    root, stage, imageLayer, maskLayer, promptLayer, loading, title, position, prevButton, nextButton,
    undoButton, clearButton, categoryInput, saveButton, objectForm, status, maskModel, modelSlot, exportButton,
    viewOnly,
  };

  // For a viewer: the editing tools go (the form leaves the page, so no Save button), the note
  // shows and the picture no longer invites clicks.
  function viewOnly() {
    helpBlock.hidden = true;
    formBlock.remove();
    viewOnlyBlock.hidden = false;
    promptLayer.setAttribute('aria-label', 'Image (view only)');
    stage.classList.add('view-only');
  }
}
