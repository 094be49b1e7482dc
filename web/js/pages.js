// A dataset's images read a page at a time (GET /api/sam/dataset/{id}?offset=&limit=, see
// docs/API.md): chunks of CHUNK images kept by position, at most MAX_IN_FLIGHT requests at
// once, and a request for a chunk the view has moved away from is cancelled. A server without
// paging (no `page` in its answer) sends every image at once: that answer is the only chunk.
import { api } from './api.js';
import { withModel } from './models.js';

export const CHUNK = 200;
const MAX_IN_FLIGHT = 2;
const MAX_CHUNKS = 100;  // 20,000 images; the chunks farthest from the view are dropped first

export const Filter = Object.freeze({
  ALL: 'all',
  NOT_CACHED: 'not_cached',
  CACHED: 'cached',
  DUPLICATES: 'duplicates',
  NEAR_DUPLICATES: 'near_duplicates',
  ANNOTATED: 'annotated',
});

export function isAbort(error) {
  return error && error.name === 'AbortError';
}

export class DatasetPages {
  // onAnswer(answer) runs after every answer read (the dataset's fields, `page`, `counts`);
  // onError(error) for a failed read.
  constructor({ datasetId, modelId, filter = Filter.ALL, q = '', onAnswer, onError }) {
    this.datasetId = datasetId;
    this.modelId = modelId;
    this.filter = filter;
    this.q = q;
    this.onAnswer = onAnswer;
    this.onError = onError;
    this.chunks = new Map();    // chunk number -> images (CHUNK of them, fewer in the last)
    this.stale = new Map();     // the chunks before invalidate(), shown until read again
    this.inFlight = new Map();  // chunk number -> AbortController
    this.wanted = [];           // chunk numbers the view needs, most needed first
    this.everything = null;     // a server without paging: all the images of its one answer
    this.matched = null;        // images matching filter/q (null until the first answer)
    this.stopped = false;
  }

  get paged() {
    return this.everything === null;
  }

  path(offset) {
    const params = new URLSearchParams();
    if (this.filter !== Filter.ALL) params.set('filter', this.filter);
    if (this.q) params.set('q', this.q);
    params.set('offset', String(offset));
    params.set('limit', String(CHUNK));
    return withModel(`/api/sam/dataset/${encodeURIComponent(this.datasetId)}?${params}`, this.modelId);
  }

  // Reads the chunk holding `position` first; resolves its answer (rejects on failure).
  async start(position = 0) {
    const chunk = Math.floor(Math.max(0, position) / CHUNK);
    const answer = await this.read(chunk);
    if (this.paged && answer.page && position >= answer.page.matched && chunk > 0) return this.read(0);
    return answer;
  }

  // The image at `index` among the matched ones, or undefined while its chunk is not read.
  image(index) {
    if (this.everything) return this.everything[index];
    const chunk = Math.floor(index / CHUNK);
    const images = this.chunks.get(chunk) || this.stale.get(chunk);
    return images ? images[index - chunk * CHUNK] : undefined;
  }

  // The view shows [from, to): reads the chunks it needs, nearest the middle first, and cancels
  // the reads of chunks it no longer needs.
  want(from, to) {
    if (this.everything || this.stopped || this.matched === null) return;
    const last = Math.min(to, this.matched) - 1;
    if (last < from) return;
    const first = Math.floor(from / CHUNK);
    const end = Math.floor(last / CHUNK);
    const middle = (first + end) / 2;
    const chunks = [];
    for (let c = first; c <= end; c += 1) chunks.push(c);
    chunks.sort((a, b) => Math.abs(a - middle) - Math.abs(b - middle));
    this.wanted = chunks;
    for (const [chunk, controller] of this.inFlight) {
      if (!chunks.includes(chunk)) controller.abort();
    }
    this.pump();
  }

  pump() {
    for (const chunk of this.wanted) {
      if (this.inFlight.size >= MAX_IN_FLIGHT) return;
      if (this.chunks.has(chunk) || this.inFlight.has(chunk)) continue;
      this.read(chunk).catch((error) => {
        if (!isAbort(error) && !this.stopped) this.onError(error);
      });
    }
  }

  async read(chunk) {
    const controller = new AbortController();
    this.inFlight.set(chunk, controller);
    // The most listings this page had open at once, for the page test (which cannot tell it
    // from the browser's request events: they arrive late on a loaded machine).
    globalThis.gridMostInFlight = Math.max(globalThis.gridMostInFlight || 0, this.inFlight.size);
    try {
      const answer = await api('GET', this.path(chunk * CHUNK), undefined, { signal: controller.signal });
      if (this.stopped) throw new DOMException('stopped', 'AbortError');
      this.take(chunk, answer);
      return answer;
    } finally {
      if (this.inFlight.get(chunk) === controller) this.inFlight.delete(chunk);
      if (!this.stopped) queueMicrotask(() => this.pump());
    }
  }

  take(chunk, answer) {
    const images = Array.isArray(answer.images) ? answer.images : [];
    if (!answer.page) {
      // A server without paging answered every image.
      this.everything = images;
      this.matched = images.length;
    } else {
      const offset = Number.isInteger(answer.page.offset) ? answer.page.offset : chunk * CHUNK;
      this.matched = answer.page.matched;
      // An answer at the chunk's own offset is the chunk (a server may answer more than asked).
      for (let at = 0; at < images.length; at += CHUNK) {
        const c = Math.floor((offset + at) / CHUNK);
        this.chunks.set(c, images.slice(at, at + CHUNK));
        this.stale.delete(c);
      }
      this.evict();
    }
    this.onAnswer(answer);
  }

  // Keeps at most MAX_CHUNKS, dropping those farthest from what the view needs.
  evict() {
    if (this.chunks.size <= MAX_CHUNKS) return;
    const centre = this.wanted.length ? this.wanted[0] : 0;
    const byDistance = [...this.chunks.keys()].sort((a, b) => Math.abs(b - centre) - Math.abs(a - centre));
    for (const c of byDistance.slice(0, this.chunks.size - MAX_CHUNKS)) this.chunks.delete(c);
  }

  // Reads everything again (after an upload or a job), showing the old images until then.
  // Resolves the first answer.
  refresh(position) {
    for (const controller of this.inFlight.values()) controller.abort();
    this.inFlight.clear();
    for (const [c, images] of this.chunks) this.stale.set(c, images);
    this.chunks.clear();
    return this.start(position);
  }

  stop() {
    this.stopped = true;
    for (const controller of this.inFlight.values()) controller.abort();
    this.inFlight.clear();
  }
}
