// The upload box (drop zone, pickers, progress bar) and the report of an upload's answer:
// the seed's green "✓ N image(s) already cached, prewarm will be faster" box, duplicates
// still to embed, and every refused file with its reason.
import { uploadFiles } from './api.js';
import { acceptDrops, filesFromInput } from './files.js';
import { formatBytes, plural } from './format.js';
import { el, clear } from './ui.js';

// Builds an upload box. `path()` is the URL to post to (called at upload time);
// onUploaded(answer) and onFailed(error) report the outcome. `withName` adds a name field.
export function uploadBox({ title, hint, path, withName = false, onUploaded, onFailed }) {
  const fileInput = el('input.visually-hidden#pick-files', {
    type: 'file', multiple: true, accept: 'image/*', tabindex: '-1', 'aria-hidden': 'true',
  });
  const folderInput = el('input.visually-hidden#pick-folder', {
    type: 'file', webkitdirectory: true, multiple: true, tabindex: '-1', 'aria-hidden': 'true',
  });
  const nameInput = withName
    ? el('input.input#dataset-name', { type: 'text', placeholder: 'Dataset name (optional)', maxlength: '200',
      'aria-label': 'Name of the new dataset (optional)' })
    : null;
  const progress = el('div.upload-progress', { hidden: true });
  const pickFiles = el('button.btn.btn-primary', { type: 'button' }, 'Choose images…');
  const pickFolder = el('button.btn', { type: 'button' }, 'Choose a folder…');
  const zone = el('section.dropzone', { 'aria-label': title },
    el('div.dropzone-icon', { 'aria-hidden': 'true' }, '⇪'),
    el('h2.dropzone-title', {}, title),
    el('p.dropzone-hint', {}, hint),
    nameInput ? el('div.dropzone-name', {}, nameInput) : null,
    el('div.dropzone-buttons', {}, pickFiles, pickFolder),
    fileInput, folderInput, progress);

  let busy = false;
  const start = async (files) => {
    if (busy) {
      onFailed(new Error('an upload is already running; wait for it to finish'));
      return;
    }
    if (files.length === 0) return;
    busy = true;
    zone.classList.add('busy');
    pickFiles.disabled = true;
    pickFolder.disabled = true;
    const bytes = files.reduce((sum, f) => sum + f.size, 0);
    showProgress(progress, { loaded: 0, total: bytes, sent: false }, files.length);
    try {
      let url = path();
      if (nameInput && nameInput.value.trim()) {
        url += `${url.includes('?') ? '&' : '?'}name=${encodeURIComponent(nameInput.value.trim())}`;
      }
      const answer = await uploadFiles(url, files, (p) => showProgress(progress, p, files.length));
      if (nameInput) nameInput.value = '';
      onUploaded(answer, files.length);
    } catch (error) {
      onFailed(error);
    } finally {
      busy = false;
      zone.classList.remove('busy');
      pickFiles.disabled = false;
      pickFolder.disabled = false;
      progress.hidden = true;
      fileInput.value = '';
      folderInput.value = '';
    }
  };

  pickFiles.addEventListener('click', () => fileInput.click());
  pickFolder.addEventListener('click', () => folderInput.click());
  fileInput.addEventListener('change', () => start(filesFromInput(fileInput)));
  folderInput.addEventListener('change', () => start(filesFromInput(folderInput)));
  acceptDrops(zone, start, onFailed);
  return zone;
}

function showProgress(node, { loaded, total, sent }, count) {
  node.hidden = false;
  clear(node);
  const fraction = total > 0 ? loaded / total : 0;
  const label = sent
    ? `Uploaded ${plural(count, 'file')}; the server is checking and storing them…`
    : `Uploading ${plural(count, 'file')}… ${Math.round(fraction * 100)}% (${formatBytes(loaded)} of ${formatBytes(total)})`;
  const bar = el('progress.bar', { max: '100', value: String(sent ? 100 : Math.round(fraction * 100)),
    'aria-label': 'Upload progress' });
  if (sent) bar.removeAttribute('value');  // indeterminate while the server works
  node.append(el('div.progress-label', { role: 'status' }, label), bar);
}

// The report of one upload answer (POST /api/sam/dataset/init or …/images).
export function uploadReport(answer) {
  const stored = (answer.images || []).length;
  const errors = answer.errors || [];
  const box = el('section.upload-report', { 'aria-label': 'Upload result' });
  box.append(el('p.upload-summary', {},
    `Stored ${plural(stored, 'image')} in “${answer.name || answer.dataset_id}”`,
    answer.duplicates_found ? ` • ${plural(answer.duplicates_found, 'duplicate')} of files already uploaded` : '',
    answer.near_duplicates_found === 1 ? ' • 1 looks like an image already uploaded' : '',
    answer.near_duplicates_found > 1 ? ` • ${answer.near_duplicates_found} look like images already uploaded` : '',
    errors.length ? ` • ${plural(errors.length, 'file')} refused` : ''));
  if (answer.duplicates_message) {
    box.append(el('div.callout.callout-success', { role: 'status' },
      el('span.callout-icon', { 'aria-hidden': 'true' }, '✓'), ' ', answer.duplicates_message));
  }
  if (answer.duplicates_pending_message) {
    box.append(el('div.callout.callout-info', {}, answer.duplicates_pending_message));
  }
  if (errors.length) {
    box.append(el('div.callout.callout-error', {},
      el('strong', {}, `${plural(errors.length, 'file was', 'files were')} not stored:`),
      el('ul.rejected', {}, errors.map((e) => el('li', {},
        el('span.rejected-name', {}, e.filename || '(request)'), ': ', e.error)))));
  }
  return box;
}
