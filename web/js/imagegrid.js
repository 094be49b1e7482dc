// A dataset's images as a virtual grid (vgrid.js) fed page by page (pages.js), with its
// filter chips, search and "go to #N" (gridtools.js). The filter, the search and the first
// image seen live in the address (#/d/{id}?filter=&q=&at=), so a reload or coming back from
// the editor lands where the person was. Prewarm events name images that may not be drawn:
// their marks are kept by id and applied whenever a card is drawn, and the counts move.
import { ImageEventState, Mark, MARK_OF_IMAGE_EVENT } from './constants.js';
import { gridTools } from './gridtools.js';
import { DatasetPages, Filter, isAbort } from './pages.js';
import { rememberImage, uploadInfo } from './state.js';
import { initialMark, sameCard, showMark, thumbnailCard } from './thumbnails.js';
import { el } from './ui.js';
import { VirtualGrid } from './vgrid.js';

const FILTERS = new Set(Object.values(Filter));

// The grid's state in the address after `#/d/{id}?`.
function readState() {
  const query = location.hash.split('?')[1] || '';
  const params = new URLSearchParams(query);
  const filter = FILTERS.has(params.get('filter')) ? params.get('filter') : Filter.ALL;
  const at = Number.parseInt(params.get('at') || '0', 10);
  return { filter, q: (params.get('q') || '').slice(0, 256), at: Number.isFinite(at) && at > 0 ? at : 0 };
}

// onAnswer(answer) runs for the first answer of each (re)reading: the dataset's fields;
// onCounts() when the cached count moved; onError(error, first) for failures (first: nothing
// could be shown).
export function imageGrid({ datasetId, href, onAnswer, onCounts, onError }) {
  const state = readState();
  const marks = new Map();         // image id -> {state, detail}, from prewarm events
  const newlyCached = new Set();   // ids turned cached by an event since the last full answer
  let base = null;                 // the last full answer: counts and embeddings_cached
  let pages = null;
  let modelId = null;
  let target = -1;                 // the index "go to" asked for, highlighted once drawn
  let alive = true;
  let countsFrame = 0;

  const grid = el('ul.grid#grid', { 'aria-label': 'Images' });
  const empty = el('p.empty#grid-empty', { hidden: true });
  const tools = gridTools({
    onFilter: (filter) => choose({ filter }),
    onSearch: (q) => choose({ q }),
    onJump: (n) => jump(n - 1),
  });

  const markOf = (image) => {
    if (image.embedding_cached) return { state: Mark.CACHED };
    return marks.get(image.id) || { state: initialMark(image) };
  };

  const render = (image, index) => {
    const entry = thumbnailCard(image, index, pages.matched, href, uploadInfo.get(image.id));
    entry.card.querySelector('a').addEventListener('click', () => rememberImage(datasetId, modelId, entry.image));
    const mark = markOf(image);
    showMark(entry, mark.state, mark.detail);
    if (index === target) entry.card.classList.add('thumb-target');
    return entry;
  };

  const vgrid = new VirtualGrid({
    grid,
    count: () => (pages && pages.matched) || 0,
    image: (i) => pages && pages.image(i),
    render,
    same: sameCard,
    refreshed: (entry) => {
      const mark = markOf(entry.image);
      showMark(entry, mark.state, mark.detail);
    },
    onRange: (from, to) => pages && pages.want(from, to),
    onSettled: () => saveState(),
    inset: () => {
      const header = document.querySelector('.topbar');
      return header && getComputedStyle(header).position === 'sticky' ? header.offsetHeight : 0;
    },
  });

  const saveState = () => {
    // Only while the address is this grid's own: a card's link to the editor (`${href}/i/…`)
    // changes the address before the hashchange stops this grid, and writing it back would
    // cancel the navigation.
    if (!alive || !pages || location.hash.split('?')[0] !== href) return;
    const params = new URLSearchParams();
    if (state.filter !== Filter.ALL) params.set('filter', state.filter);
    if (state.q) params.set('q', state.q);
    const at = vgrid.firstVisible();
    if (at > 0) params.set('at', String(at));
    const query = params.toString();
    const hash = query ? `${href}?${query}` : href;
    if (location.hash !== hash) history.replaceState(history.state, '', hash);
  };

  const totalOf = () => (base && base.image_count) || 0;

  const showTools = () => {
    const counts = base && base.counts ? { ...base.counts } : null;
    if (counts) {
      counts.cached = Math.min(counts.all, (counts.cached || 0) + newlyCached.size);
      counts.not_cached = Math.max(0, (counts.not_cached || 0) - newlyCached.size);
    }
    tools.showCounts(counts);
    onCounts();
    const matched = pages.matched || 0;
    tools.show({ filter: state.filter, q: state.q, matched, total: totalOf() });
    empty.hidden = matched > 0;
    empty.textContent = state.filter === Filter.ALL && !state.q
      ? 'No images in this dataset.' : 'No images match.';
  };

  // An answer of `from`; the first of a (re)reading is the base of the counts.
  const answered = (from, answer, first) => {
    if (!alive || from !== pages) return;
    if (first) {
      base = answer;
      newlyCached.clear();
      onAnswer(answer);
    }
    if (!answer.page) {
      // A server without paging answers everything and filters nothing.
      state.filter = Filter.ALL;
      state.q = '';
    }
    showTools();
    vgrid.schedule();
  };

  // Reads from `position` with the state's filter and search (a new reading drops the old).
  const start = async (position) => {
    if (pages) pages.stop();
    const mine = new DatasetPages({
      datasetId, modelId, filter: state.filter, q: state.q,
      onAnswer: (answer) => answered(mine, answer, false),
      onError: (error) => onError(error, false),
    });
    pages = mine;
    vgrid.reset();
    try {
      const answer = await mine.start(position);
      answered(mine, answer, true);
      if (mine === pages && position > 0) vgrid.scrollTo(Math.min(position, mine.matched - 1));
    } catch (error) {
      if (alive && mine === pages && !isAbort(error)) onError(error, true);
    }
  };

  const choose = (change) => {
    Object.assign(state, change);
    target = -1;
    if (grid.getBoundingClientRect().top < 0) vgrid.scrollTo(0);
    start(0).then(saveState);
  };

  const jump = (index) => {
    if (!pages || !pages.matched) return;
    target = Math.min(index, pages.matched - 1);
    for (const old of grid.querySelectorAll('.thumb-target')) old.classList.remove('thumb-target');
    vgrid.reset();  // the target's card is drawn again, highlighted
    vgrid.scrollTo(target);
  };

  return {
    node: el('div.image-grid', {}, tools.node, empty, grid),
    // Reads the images for model `id` (null: the server's default), from where the address says.
    open(id) {
      modelId = id;
      marks.clear();
      start(pages ? vgrid.firstVisible() : state.at);  // another model: stay where the view is
    },
    // Reads everything again where the view is (after an upload or at the end of a job).
    async refresh() {
      if (!pages) return;
      const mine = pages;
      try {
        const answer = await mine.refresh(vgrid.firstVisible());
        answered(mine, answer, true);
        for (const [id, mark] of marks) if (mark.state === Mark.COMPUTING) marks.delete(id);
      } catch (error) {
        if (alive && mine === pages && !isAbort(error)) onError(error, false);
      }
    },
    // A prewarm `image` event ({image_id, state, detail}): the image's mark, drawn or not.
    imageEvent({ image_id: id, state: eventState, detail }) {
      const mark = MARK_OF_IMAGE_EVENT[eventState];
      if (!mark) return;
      const before = marks.get(id);
      marks.set(id, { state: mark, detail });
      const entry = vgrid.entryOf(id);
      if (entry) showMark(entry, mark, detail);
      // `computed` is an image that was not cached (`skipped` ones already were).
      const wasCached = (entry && entry.image.embedding_cached) || (before && before.state === Mark.CACHED);
      if (eventState === ImageEventState.COMPUTED && !wasCached) newlyCached.add(id);
      if (pages && !countsFrame) {
        countsFrame = requestAnimationFrame(() => {
          countsFrame = 0;
          if (alive) showTools();
        });
      }
    },
    // How many embeddings are cached now: the last answer's count and the events since.
    cached() {
      if (!base) return 0;
      return Math.min(base.image_count, base.embeddings_cached + newlyCached.size);
    },
    stop() {
      alive = false;
      cancelAnimationFrame(countsFrame);
      tools.stop();
      vgrid.stop();
      if (pages) pages.stop();
    },
  };
}
