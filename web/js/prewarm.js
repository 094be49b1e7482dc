// The prewarm panel: start, cancel and follow a job through its Server-Sent Events
// (GET /api/sam/prewarm/{id}/events: `image` per image, `progress` per change, `done` at
// the end). The texts are the server's (progress_text, detail_text, avg_text, message),
// which are the seed's. A job warms one model's cache: the panel starts and follows the job
// of the model chosen for the dataset.
import { api, checkSession } from './api.js';
import { isFinished, JobStatus } from './constants.js';
import { withModel } from './models.js';
import { el, clear } from './ui.js';

export class PrewarmPanel {
  // onImage(event) runs for each `image` event ({image_id, state, detail}); onFinished(snapshot)
  // once a followed job ends; onError(error) for every failure. model() is the id of the model
  // a new job warms (null: the server's default); modelLabel(snapshot) the line naming a job's
  // model ('' for none).
  constructor({ datasetId, onImage, onFinished, onError, model = () => null, modelLabel = () => '' }) {
    this.datasetId = datasetId;
    this.model = model;
    this.modelLabel = modelLabel;
    this.onImage = onImage;
    this.onFinished = onFinished;
    this.onError = onError;
    this.source = null;
    this.job = null;
    this.startButton = el('button.btn.btn-primary#prewarm-start', { type: 'button' }, '⚡ Pre-warm cache');
    this.cancelButton = el('button.btn#prewarm-cancel', { type: 'button', hidden: true }, 'Cancel pre-warm');
    this.startButton.addEventListener('click', () => this.start());
    this.cancelButton.addEventListener('click', () => this.cancel());
    this.spinner = el('span.spinner', { 'aria-hidden': 'true' });
    this.progressText = el('div.prewarm-progress-text');
    this.detailText = el('div.prewarm-detail');
    this.avgText = el('div.prewarm-avg');
    this.modelText = el('div.prewarm-model#prewarm-model');
    this.bar = el('progress.bar', { max: '1', value: '0', 'aria-label': 'Pre-warm progress' });
    this.failures = el('ul.prewarm-failures');
    this.status = el('div.prewarm-status#prewarm-status', { role: 'status', 'aria-live': 'polite', hidden: true },
      el('div.prewarm-line', {}, this.spinner,
        el('div.prewarm-texts', {}, this.progressText, this.detailText, this.avgText, this.modelText)),
      this.bar, this.failures);
    this.node = el('section.prewarm', { 'aria-label': 'Pre-warm the embedding cache' }, this.status);
  }

  // The start and cancel buttons, for the dataset's toolbar.
  buttons() {
    return [this.startButton, this.cancelButton];
  }

  async start() {
    this.startButton.disabled = true;
    try {
      const model = this.model();
      const path = `/api/sam/dataset/${encodeURIComponent(this.datasetId)}/prewarm`;
      const snapshot = await api('POST', withModel(path, model));
      if (this.model() !== model) return;  // another model was chosen meanwhile: its job is not this one
      this.follow(snapshot);
    } catch (error) {
      this.startButton.disabled = false;
      this.onError(error);
    }
  }

  async cancel() {
    if (!this.job) return;
    this.cancelButton.disabled = true;
    try {
      const snapshot = await api('DELETE', `/api/sam/prewarm/${encodeURIComponent(this.job)}`);
      if (snapshot.job_id === this.job) this.render(snapshot);
    } catch (error) {
      this.onError(error);
    } finally {
      this.cancelButton.disabled = false;
    }
  }

  // Shows `snapshot` and, unless it has finished, follows its job's events.
  follow(snapshot) {
    this.stop();
    this.job = snapshot.job_id;
    this.render(snapshot);
    if (isFinished(snapshot.status)) return this.finish(snapshot);
    const source = new EventSource(snapshot.events_url || `/api/sam/prewarm/${encodeURIComponent(this.job)}/events`);
    this.source = source;
    source.addEventListener('image', (e) => this.onImage(JSON.parse(e.data)));
    source.addEventListener('progress', (e) => this.render(JSON.parse(e.data)));
    source.addEventListener('done', (e) => {
      const last = JSON.parse(e.data);
      this.stop();
      this.render(last);
      this.finish(last);
    });
    source.addEventListener('error', (e) => {
      if (e.data) {  // the server's own "error" event: the job cannot be read
        let message = 'the pre-warm progress stream failed';
        try {
          message = JSON.parse(e.data).error || message;
        } catch {
          // Keep the general message.
        }
        this.stop();
        this.onError(new Error(message));
        this.startButton.disabled = false;
        return;
      }
      // A lost connection: EventSource reconnects by itself with Last-Event-ID. An answer it
      // gives up on (a 401 when the session ended) closes it; /me tells which.
      if (source.readyState === EventSource.CLOSED) {
        checkSession();
        this.stop();
        this.onError(new Error('lost the connection to the server while following the pre-warm'));
        this.startButton.disabled = false;
      } else {
        this.detailText.textContent = 'Connection lost; reconnecting…';
      }
    });
  }

  render(s) {
    const running = !isFinished(s.status);
    this.status.hidden = false;
    this.status.classList.toggle('finished', !running);
    this.status.classList.toggle('completed', s.status === JobStatus.COMPLETED);
    this.status.classList.toggle('stopped', s.status === JobStatus.CANCELLED || s.status === JobStatus.FAILED);
    this.spinner.hidden = !running;
    if (running && s.status === JobStatus.RUNNING) {
      this.progressText.textContent = `⚡ ${s.progress_text}`;
    } else {
      this.progressText.textContent = s.status === JobStatus.COMPLETED ? `✓ ${s.message}` : s.message;
    }
    this.detailText.textContent = running ? s.detail_text || '' : '';
    this.avgText.textContent = s.avg_text || '';
    this.modelText.textContent = this.modelLabel(s);
    this.bar.max = Math.max(1, s.total || 0);
    this.bar.value = s.done || 0;
    clear(this.failures);
    for (const f of s.failures || []) this.failures.append(el('li', {}, `${f.filename}: ${f.reason}`));
    this.startButton.disabled = running;
    this.startButton.hidden = running;
    this.cancelButton.hidden = !running;
  }

  finish(snapshot) {
    this.startButton.disabled = false;
    this.startButton.hidden = false;
    this.cancelButton.hidden = true;
    this.onFinished(snapshot);
  }

  // Stops following and shows no job (another model was chosen; its job, if any, goes on).
  reset() {
    this.stop();
    this.job = null;
    this.status.hidden = true;
    this.startButton.disabled = false;
    this.startButton.hidden = false;
    this.cancelButton.hidden = true;
  }

  // Stops following (the job itself goes on).
  stop() {
    if (this.source) {
      this.source.close();
      this.source = null;
    }
  }
}
