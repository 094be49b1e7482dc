// The words the server and the page use for states, named once: code compares against these
// names, so a typo is an undefined property rather than a comparison that is silently false.

// A prewarm job's `status` (GET /api/sam/prewarm/{id} and its events).
export const JobStatus = Object.freeze({
  QUEUED: 'queued',
  RUNNING: 'running',
  COMPLETED: 'completed',
  CANCELLED: 'cancelled',
  FAILED: 'failed',
});

// The statuses a job does not leave.
export const FINISHED_JOB_STATUSES = new Set([JobStatus.COMPLETED, JobStatus.CANCELLED, JobStatus.FAILED]);

export function isFinished(status) {
  return FINISHED_JOB_STATUSES.has(status);
}

// The `state` of a prewarm job's `image` event.
export const ImageEventState = Object.freeze({
  COMPUTING: 'computing',
  COMPUTED: 'computed',
  SKIPPED: 'skipped',
  FAILED: 'failed',
});

// The `embedding` field of an answer: predict says cached or computed, warm cached or computing.
export const Embedding = Object.freeze({
  CACHED: 'cached',
  COMPUTED: 'computed',
  COMPUTING: 'computing',
});

// Where a thumbnail says its image's embedding is: its `data-embedding` and `.mark-*` class.
export const Mark = Object.freeze({
  CACHED: 'cached',
  PENDING: 'pending',
  COMPUTING: 'computing',
  FAILED: 'failed',
});

// What each mark shows: its symbol and the text a pointer or a screen reader gets.
export const MARK_LOOKS = Object.freeze({
  [Mark.CACHED]: { symbol: '⚡', label: 'Embedding cached: segmenting is instant' },
  [Mark.PENDING]: { symbol: '⏳', label: 'Embedding not cached yet: computed on pre-warm or on the first click' },
  [Mark.COMPUTING]: { symbol: '⏳', label: 'Computing the embedding now…' },
  [Mark.FAILED]: { symbol: '✖', label: 'The embedding could not be computed' },
});

// The mark a prewarm `image` event turns its thumbnail to.
export const MARK_OF_IMAGE_EVENT = Object.freeze({
  [ImageEventState.COMPUTED]: Mark.CACHED,
  [ImageEventState.SKIPPED]: Mark.CACHED,
  [ImageEventState.COMPUTING]: Mark.COMPUTING,
  [ImageEventState.FAILED]: Mark.FAILED,
});
