// The tools above a dataset's grid: filter chips with their counts, a search by file name
// (read a moment after the typing stops) and "go to image #N".
import { Filter } from './pages.js';
import { el } from './ui.js';

const SEARCH_DELAY_MS = 300;

const CHIPS = [
  [Filter.ALL, 'All'],
  [Filter.NOT_CACHED, 'Not cached'],
  [Filter.CACHED, 'Cached'],
  [Filter.DUPLICATES, 'Duplicates'],
  [Filter.NEAR_DUPLICATES, 'Near duplicates'],
  [Filter.ANNOTATED, 'Annotated'],
];

// onFilter(filter), onSearch(q), onJump(position, 1-based). Returns {node, show(state),
// showCounts(counts)}; the chips and the search show only for a server that filters (counts).
export function gridTools({ onFilter, onSearch, onJump }) {
  const chips = new Map();
  const chipBox = el('div.chips#grid-filters', { role: 'group', 'aria-label': 'Show', hidden: true });
  for (const [filter, label] of CHIPS) {
    const count = el('span.chip-count');
    const chip = el('button.chip', { type: 'button', dataset: { filter }, 'aria-pressed': 'false' }, label, ' ', count);
    chip.addEventListener('click', () => onFilter(filter));
    chips.set(filter, { chip, count });
    chipBox.append(chip);
  }

  const search = el('input.input.grid-search#grid-search', {
    type: 'search', placeholder: 'Search file names', 'aria-label': 'Search file names', maxlength: '256',
    autocomplete: 'off', spellcheck: 'false',
  });
  let timer = 0;
  search.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => onSearch(search.value.trim()), SEARCH_DELAY_MS);
  });
  search.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter') return;
    clearTimeout(timer);
    onSearch(search.value.trim());
  });
  const searchBox = el('div.grid-search-box', { hidden: true }, search);

  const jumpInput = el('input.input.grid-jump-input#grid-jump-to', {
    type: 'number', min: '1', step: '1', inputmode: 'numeric', 'aria-label': 'Image number', placeholder: '#',
  });
  const jump = el('form.grid-jump#grid-jump', {}, el('label.muted', { for: 'grid-jump-to' }, 'Go to image'),
    jumpInput, el('button.btn', { type: 'submit' }, 'Go'));
  jump.addEventListener('submit', (e) => {
    e.preventDefault();
    const n = Number(jumpInput.value);
    if (Number.isInteger(n) && n >= 1) onJump(n);
  });

  const summary = el('span.muted.grid-summary#grid-summary', { 'aria-live': 'polite' });
  const node = el('div.grid-tools', {}, chipBox, el('div.grid-tools-row', {}, searchBox, jump, summary));

  return {
    node,
    // {filter, q, matched, paged}: which chip is pressed, the search text, how many match.
    show({ filter, q, matched, total }) {
      for (const [f, { chip }] of chips) chip.setAttribute('aria-pressed', String(f === filter));
      if (document.activeElement !== search && search.value.trim() !== q) search.value = q;
      jumpInput.max = String(Math.max(1, matched));
      summary.textContent = matched === total ? '' : `${matched.toLocaleString()} of ${total.toLocaleString()} shown`;
    },
    showCounts(counts) {
      const known = Boolean(counts);
      chipBox.hidden = !known;
      searchBox.hidden = !known;
      if (!known) return;
      for (const [f, { count }] of chips) {
        count.textContent = Number.isFinite(counts[f]) ? counts[f].toLocaleString() : '';
      }
    },
    stop() {
      clearTimeout(timer);
    },
  };
}
