// The models the server runs (GET /api/sam/models) and which one each dataset works with. The
// choice is remembered per dataset in localStorage (`samcache.model.<datasetId>`); a remembered
// model the server no longer runs gives way to the default. With one model there is no choice
// and no picker.
import { api } from './api.js';
import { el } from './ui.js';

const KEY_PREFIX = 'samcache.model.';
let listing = null;  // the promise of the list, read once per login

// Resolves {defaultId, models: [{id, name, family, demo, default, ...}]}. A failed read is
// not kept, so the next view asks again.
export function loadModels() {
  if (!listing) {
    listing = api('GET', '/api/sam/models')
      .then((answer) => ({ defaultId: answer.default_model, models: Array.isArray(answer.models) ? answer.models : [] }))
      .catch((error) => {
        listing = null;
        throw error;
      });
  }
  return listing;
}

// Drops the list (after a logout: the next person reads it again).
export function forgetModels() {
  listing = null;
}

function storedChoice(datasetId) {
  try {
    return localStorage.getItem(KEY_PREFIX + datasetId);
  } catch {
    return null;  // storage may be off; the default model is then chosen each time
  }
}

// The id of the model `datasetId` works with: the remembered one while the server runs it,
// else the default.
export function chosenModel(list, datasetId) {
  const wanted = storedChoice(datasetId);
  const found = list.models.find((m) => m.id === wanted);
  return found ? found.id : list.defaultId;
}

export function rememberModel(datasetId, modelId) {
  try {
    localStorage.setItem(KEY_PREFIX + datasetId, modelId);
  } catch {
    // Not remembered: harmless.
  }
}

// The name of the model with `id`; a model the server no longer runs shows its id's start.
export function modelName(list, id) {
  const found = list && list.models.find((m) => m.id === id);
  if (found) return found.name;
  return id ? `model ${String(id).slice(0, 8)}` : 'unknown model';
}

// `path` with the model as its `model` query parameter (none: the server's default).
export function withModel(path, modelId) {
  if (!modelId) return path;
  return `${path}${path.includes('?') ? '&' : '?'}model=${encodeURIComponent(modelId)}`;
}

// A labelled select of the models, `selectedId` chosen; onChange(id) after the person picks
// another. Hidden when the server runs one model.
export function modelPicker(list, selectedId, onChange) {
  const select = el('select.input.model-select#model-select');
  for (const m of list.models) {
    const option = el('option', { value: m.id, title: [m.family, `id ${m.id}`].filter(Boolean).join(' • ') },
      m.id === list.defaultId ? `${m.name} (default)` : m.name);
    select.append(option);
  }
  // The whole name on hover, for a select too narrow for it.
  const showTitle = () => {
    select.title = select.selectedOptions.length ? select.selectedOptions[0].textContent : '';
  };
  select.value = selectedId;
  showTitle();
  select.addEventListener('change', () => {
    showTitle();
    onChange(select.value);
  });
  return el('div.model-picker#model-picker', { hidden: list.models.length < 2 },
    el('label.model-picker-label', { for: 'model-select' }, 'Model'), select);
}
