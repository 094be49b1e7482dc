// A virtual grid of fixed-size cards: the list is as tall as all of its rows, but only the
// cards on screen and a margin of rows around them exist, placed absolutely. The window
// scrolls; each frame after a scroll or resize places the cards of the new range, creates the
// missing ones and removes the rest. A card's picture loads once it is on screen, or, when
// the scrolling has stopped, in the margin too.
import { el } from './ui.js';

const MIN_CARD = 150;        // px, as the grid of small datasets always had
const MIN_CARD_NARROW = 120;  // below 560 px of window
const MARGIN_ROWS = 3;
const SETTLE_MS = 150;       // a scroll this long ago has stopped

export class VirtualGrid {
  // grid: the <ul>. count(): how many cards. image(i): the record of card i or undefined while
  // unknown. render(image, i): the {card, picture} of a known record; same(a, b): whether a
  // card drawn for record a still shows b; refreshed(entry) after such a card got record b.
  // onRange(from, to): the cards the view needs now; onSettled() once the scrolling stopped.
  // inset(): the height a sticky header covers at the top of the window.
  constructor({ grid, count, image, render, same, refreshed = () => {}, onRange, onSettled = () => {},
    inset = () => 0 }) {
    this.grid = grid;
    this.count = count;
    this.imageAt = image;
    this.render = render;
    this.same = same;
    this.refreshed = refreshed;
    this.onRange = onRange;
    this.onSettled = onSettled;
    this.inset = inset;
    this.cards = new Map();  // index -> {card, picture, image (or null for a placeholder)}
    this.byId = new Map();   // image id -> entry
    this.layout = null;
    this.frame = 0;
    this.lastScroll = 0;
    this.settleTimer = 0;
    grid.classList.add('virtual');
    this.onScroll = () => {
      this.lastScroll = performance.now();
      this.schedule();
    };
    this.onResize = () => this.schedule(true);
    window.addEventListener('scroll', this.onScroll, { passive: true });
    window.addEventListener('resize', this.onResize);
    this.resizeObserver = new ResizeObserver(() => this.schedule(true));
    this.resizeObserver.observe(document.body);  // also what moves the grid up or down
  }

  schedule(relayout = false) {
    if (relayout) this.layout = null;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.update());
  }

  measure() {
    const width = this.grid.clientWidth;
    const rem = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    const narrow = window.innerWidth <= 560;
    const gap = (narrow ? 0.6 : 0.85) * rem;
    const min = Math.min(narrow ? MIN_CARD_NARROW : MIN_CARD, Math.max(60, width));
    const columns = Math.max(1, Math.floor((width + gap) / (min + gap)));
    const cardWidth = (width - gap * (columns - 1)) / columns;
    // The picture's square frame inside the link's padding and border, then two lines of text.
    const frame = cardWidth - 2 * (0.4 * rem + 1);
    const cardHeight = Math.ceil(frame + 0.8 * rem + 2 + 0.5 * rem + 0.2 * rem + 1.25 * 0.85 * rem + 1.25 * 0.78 * rem + 4);
    this.layout = { width, gap, columns, cardWidth, cardHeight, rowHeight: cardHeight + gap, inset: this.inset() };
    this.grid.style.setProperty('--card-w', `${cardWidth}px`);
    this.grid.style.setProperty('--card-h', `${cardHeight}px`);
  }

  // The rows [first, end) the window shows, the margin not included.
  visibleRows() {
    const { rowHeight } = this.layout;
    const top = this.grid.getBoundingClientRect().top - this.layout.inset;
    const first = Math.max(0, Math.floor(-top / rowHeight));
    const end = Math.max(first, Math.ceil((window.innerHeight - top) / rowHeight));
    return { first, end };
  }

  // Makes the list as tall as its rows; returns the count of cards.
  size() {
    if (!this.layout) this.measure();
    const count = this.count();
    const rows = Math.ceil(count / this.layout.columns);
    this.grid.style.height = `${Math.max(0, rows * this.layout.rowHeight - this.layout.gap)}px`;
    return count;
  }

  update() {
    this.frame = 0;
    const count = this.size();
    const { columns, cardWidth, rowHeight } = this.layout;
    const seen = this.visibleRows();
    const from = Math.min(count, Math.max(0, seen.first - MARGIN_ROWS) * columns);
    const to = Math.min(count, (seen.end + MARGIN_ROWS) * columns);
    const settled = performance.now() - this.lastScroll >= SETTLE_MS;
    const onScreenFrom = seen.first * columns;
    const onScreenTo = seen.end * columns;

    for (const [i, entry] of this.cards) {
      if (i < from || i >= to) this.drop(i, entry);
    }
    const added = [];
    for (let i = from; i < to; i += 1) {
      const image = this.imageAt(i) || null;
      let entry = this.cards.get(i);
      if (entry && !(entry.image === image || (entry.image && image && this.same(entry.image, image)))) {
        this.drop(i, entry);
        entry = null;
      }
      if (!entry) {
        entry = image ? this.render(image, i) : { card: el('li.thumb-placeholder', { 'aria-hidden': 'true' }, el('span.thumb-frame')) };
        entry.image = image;
        entry.index = i;
        this.cards.set(i, entry);
        if (image) this.byId.set(image.id, entry);
        added.push(entry);
      } else if (image && entry.image !== image) {
        entry.image = image;  // the same card for a fresher record of the same image
        this.byId.set(image.id, entry);
        this.refreshed(entry);
      }
      const at = `translate(${(i % columns) * (cardWidth + this.layout.gap)}px, ${Math.floor(i / columns) * rowHeight}px)`;
      if (entry.at !== at) {
        entry.at = at;
        entry.card.style.transform = at;
      }
      // Pictures on screen load now; those in the margin once the scrolling stops.
      if (entry.picture && !entry.picture.getAttribute('src') && (settled || (i >= onScreenFrom && i < onScreenTo))) {
        entry.picture.src = entry.image.thumb_url;
      }
    }
    this.insert(added);
    this.onRange(from, to);
    clearTimeout(this.settleTimer);
    this.settleTimer = setTimeout(() => {
      if (!settled) this.schedule();  // the margin's pictures
      this.onSettled();
    }, SETTLE_MS);
  }

  // Puts new cards among the others in index order, so the list reads in order.
  insert(added) {
    if (!added.length) return;
    added.sort((a, b) => a.index - b.index);
    let next = this.grid.firstElementChild;
    for (const entry of added) {
      while (next && Number(next.dataset.index) < entry.index) next = next.nextElementSibling;
      entry.card.dataset.index = String(entry.index);
      this.grid.insertBefore(entry.card, next);
    }
  }

  drop(i, entry) {
    entry.card.remove();
    this.cards.delete(i);
    if (entry.image && this.byId.get(entry.image.id) === entry) this.byId.delete(entry.image.id);
  }

  // The card of image `id`, when it is drawn.
  entryOf(id) {
    return this.byId.get(id);
  }

  // The first card the window shows (for remembering the position).
  firstVisible() {
    if (!this.layout) return 0;
    return Math.min(Math.max(0, this.count() - 1), this.visibleRows().first * this.layout.columns);
  }

  // Scrolls so that card `index` is in the first row seen (below the sticky header).
  scrollTo(index) {
    this.size();  // the page must be tall enough to scroll there
    const row = Math.floor(index / this.layout.columns);
    const top = this.grid.getBoundingClientRect().top + window.scrollY + row * this.layout.rowHeight;
    window.scrollTo({ top: Math.max(0, top - this.layout.inset - 8), behavior: 'instant' });
    this.schedule();
  }

  // Draws every card again from its record (after the records were read again).
  redraw() {
    this.schedule();
  }

  // Forgets every card (another filter or search: other images at the same indexes).
  reset() {
    for (const [i, entry] of this.cards) this.drop(i, entry);
    this.schedule();
  }

  stop() {
    cancelAnimationFrame(this.frame);
    clearTimeout(this.settleTimer);
    window.removeEventListener('scroll', this.onScroll);
    window.removeEventListener('resize', this.onResize);
    this.resizeObserver.disconnect();
  }
}
