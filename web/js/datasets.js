// The home view: create a dataset by dropping or picking images, and the list of datasets
// (open, delete) — with accounts, those of the project chosen in the header. The list is read
// a page at a time (`page.next_cursor`); a server without paging sends it whole.
import { api } from './api.js';
import { deletedText, formatDate, plural } from './format.js';
import { canWriteIn, currentProject, projectParam, session } from './session.js';
import { rememberUpload } from './state.js';
import { el, clear, confirmAction, notify } from './ui.js';
import { uploadBox, uploadReport } from './upload.js';

export function renderDatasets({ main, setCrumbs }) {
  const project = currentProject();
  setCrumbs(project ? [{ label: project.name }, { label: 'Datasets' }] : [{ label: 'Datasets' }]);
  document.title = project ? `samcache — ${project.name}` : 'samcache — datasets';
  if (session.accounts && !project) {
    main.append(el('section.panel#no-project', {}, el('h1', {}, 'No project yet'),
      el('p', {}, 'You are not a member of any project. An admin adds you to one.')));
    return () => {};
  }
  const writable = !project || canWriteIn(project.id);
  let alive = true;
  const report = el('div.report-slot');
  const list = el('div.dataset-list#dataset-list', { 'aria-busy': 'true' }, el('p.muted', {}, 'Loading the datasets…'));

  const box = uploadBox({
    title: 'New dataset',
    hint: 'Drop images or a folder here, or choose them. Every file is hashed: images seen before are '
      + 'recognised, and their cached embeddings are reused.',
    path: () => `/api/sam/dataset/init${projectParam()}`,
    withName: true,
    onUploaded: (answer) => {
      rememberUpload(answer);
      location.hash = `#/d/${encodeURIComponent(answer.dataset_id)}`;
    },
    onFailed: (error) => {
      notify(error);
      clear(report);
      if (error.body && Array.isArray(error.body.errors) && error.body.errors.length) {
        report.append(uploadReport({ ...error.body, name: 'a new dataset' }));
      }
    },
  });

  const viewOnly = el('section.panel.view-only#view-only', {},
    el('h2', {}, 'View only'),
    el('p.muted', {}, `You may look at the datasets of “${project ? project.name : ''}”; adding images needs the `
      + 'annotator role in it.'));
  main.append(
    el('div.home', {},
      el('div.home-upload', {}, writable ? box : viewOnly, report),
      el('section.panel.datasets', { 'aria-labelledby': 'datasets-title' },
        el('div.panel-head', {}, el('h1#datasets-title', {}, 'Datasets')),
        list)));

  const rows = el('ul.rows');
  const more = el('button.btn.btn-quiet#more-datasets', { type: 'button' }, 'Show more datasets');
  let cursor = null;
  more.addEventListener('click', () => load(cursor));

  // The first page (cursor null: the list drawn again) or the one after `after`.
  const load = async (after = null) => {
    more.disabled = true;
    try {
      const params = projectParam();
      const path = after
        ? `/api/sam/datasets${params}${params ? '&' : '?'}cursor=${encodeURIComponent(after)}`
        : `/api/sam/datasets${params}`;
      const { datasets, page } = await api('GET', path);
      if (!alive) return;
      if (!after) {
        clear(list);
        clear(rows);
        list.removeAttribute('aria-busy');
        if (datasets.length === 0) {
          list.append(el('p.empty', {}, 'No datasets yet. Drop some images on the box to create one.'));
          return;
        }
        list.append(rows, more);
      }
      for (const d of datasets) rows.append(datasetRow(d, () => load(), writable));
      cursor = page ? page.next_cursor : null;
      more.hidden = !cursor;
      more.disabled = false;
    } catch (error) {
      more.disabled = false;
      if (!alive) return;
      clear(list);
      list.append(el('p.error-text', {}, `The datasets could not be read: ${error.message}`));
      notify(error);
    }
  };
  load();
  return () => {
    alive = false;
  };
}

function datasetRow(d, reload, writable) {
  const open = `#/d/${encodeURIComponent(d.id)}`;
  const remove = el('button.btn.btn-quiet.btn-danger-text', { type: 'button', 'aria-label': `Delete dataset ${d.name}` },
    'Delete');
  remove.addEventListener('click', async () => {
    const ok = await confirmAction(
      `Delete the dataset “${d.name}” and its ${plural(d.image_count, 'image')}? Files that other datasets `
      + 'also hold stay stored; cached embeddings stay cached.');
    if (!ok) return;
    remove.disabled = true;
    try {
      const answer = await api('DELETE', `/api/sam/dataset/${encodeURIComponent(d.id)}`);
      notify(deletedText(d.name, answer), 'info');
      reload();
    } catch (error) {
      remove.disabled = false;
      notify(error);
    }
  });
  return el('li.row', { dataset: { datasetId: d.id } },
    el('a.row-main', { href: open },
      el('span.row-title', {}, d.name),
      el('span.row-meta', {}, `${plural(d.image_count, 'image')} • created ${formatDate(d.created_at)}`)),
    el('div.row-actions', {}, el('a.btn', { href: open }, 'Open'), writable ? remove : null));
}
