// End-to-end tests of the page's model picker: a real `samcache serve` with two models (the
// built-in demo and a copy of the HWC demo fixture, whose encoders differ, so their ids and
// caches do) driven through Debian's headless Chromium. The tests run in order and share the
// server's state: picker → pre-warm one model → marks per model → masks and objects named by
// their model → the choice remembered per dataset → a one-model server on the same data.
//
// Environment: SAMCACHE_BINARY (required), SAMCACHE_WEB_ARTIFACTS (screenshots; a temporary
// folder when unset), CHROMIUM (default /usr/bin/chromium).
import { after, before, test as nodeTest } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, failureNotes, startServer, stopServer } from './harness.mjs';
import { makeScene } from './scenes.mjs';

const binary = process.env.SAMCACHE_BINARY;
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = process.env.SAMCACHE_WEB_ARTIFACTS || mkdtempSync(join(tmpdir(), 'samcache-web-artifacts-'));
const fixture = fileURLToPath(new URL('../fixtures/models/demo-hwc', import.meta.url));
const STEP_TIMEOUT = 120_000;
const SECOND_NAME = 'demo HWC (second model)';

const scenes = [makeScene(0), makeScene(1), makeScene(2), makeScene(3)];
const files = scenes.map((s, i) => ({ name: `scene-${i + 1}.png`, mimeType: 'image/png', buffer: s.png }));

let dataDir;
let server;
let baseUrl;
let browser;
let context;
let page;
const problems = [];  // console errors and page errors, from every page of the run
const requests = [];  // {method, url, body} of the API requests the page made
const shared = {};    // what one step finds and a later one needs
const answers = [];   // {status, method, url} of the API answers, for the failure notes
const notes = failureNotes();
const test = (name, options, fn) => (fn ? nodeTest(name, options, notes.wrap(fn, () => page, answers)) : nodeTest(name, options));

function watch(p) {
  p.on('console', (message) => {
    if (message.type() === 'error') problems.push(`console error: ${message.text()} (${message.location().url || ''})`);
  });
  p.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  p.on('response', (response) => {
    if (response.url().includes('/api/')) {
      answers.push({ status: response.status(), method: response.request().method(), url: response.url() });
    }
  });
  p.on('request', (request) => {
    if (request.url().includes('/api/')) requests.push({ method: request.method(), url: request.url(), body: request.postData() });
  });
}

async function screenshot(p, name) {
  await p.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

async function apiGet(path) {
  const response = await fetch(baseUrl + path);
  assert.equal(response.status, 200, `GET ${path}: ${await response.clone().text()}`);
  return response.json();
}

async function openPage(p, url) {
  await p.goto(url);
  await p.locator('#model-name').waitFor();
}

// The marks of the dataset's thumbnails once there are `count` of them in the state `state`.
async function waitForMarks(p, state, count) {
  await p.locator(`#grid .thumb[data-embedding="${state}"]`).nth(count - 1).waitFor();
  return p.locator('#grid .thumb').evaluateAll((cards) => cards.map((c) => c.dataset.embedding));
}

// Whether `url` reads the listing of `datasetId` (a page of it) for model `modelId`.
function isListing(url, datasetId, modelId) {
  const u = new URL(url);
  return u.pathname === `/api/sam/dataset/${datasetId}` && u.searchParams.get('model') === modelId;
}

// Chooses `modelId` in the picker and waits for the dataset listing it brings.
async function chooseInDataset(p, datasetId, modelId) {
  const listed = p.waitForResponse((r) => isListing(r.url(), datasetId, modelId));
  await p.locator('#model-select').selectOption(modelId);
  assert.equal((await listed).status(), 200);
}

function maskAlpha(p, [x, y]) {
  return p.evaluate(([px, py]) => document.getElementById('mask-layer').getContext('2d').getImageData(px, py, 1, 1).data[3], [x, y]);
}

// Clicks the editor's canvas at image coordinates (x, y); resolves the predict answer.
async function clickImage(p, x, y) {
  const answer = p.waitForResponse((r) => r.url().endsWith('/api/sam/predict') && r.request().method() === 'POST');
  const box = await p.locator('#prompt-layer').boundingBox();
  const { width, height } = await p.evaluate(() => {
    const c = document.getElementById('image-layer');
    return { width: c.width, height: c.height };
  });
  await p.mouse.click(box.x + ((x + 0.5) / width) * box.width, box.y + ((y + 0.5) / height) * box.height);
  const response = await answer;
  assert.equal(response.status(), 200);
  await p.waitForFunction(([px, py]) => document.getElementById('mask-layer').getContext('2d')
    .getImageData(px, py, 1, 1).data[3] > 0, [x, y]);
  return { request: JSON.parse(response.request().postData()), answer: await response.json() };
}

const centreOf = (rect) => [Math.floor((rect.x0 + rect.x1) / 2), Math.floor((rect.y0 + rect.y1) / 2)];

before(async () => {
  assert.ok(binary, 'SAMCACHE_BINARY must name the samcache executable');
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'samcache-web-models-'));
  // The HWC demo under a name of its own: two models may not share a name.
  const second = join(dataDir, 'models', 'demo-hwc');
  cpSync(fixture, second, { recursive: true });
  const meta = JSON.parse(readFileSync(join(second, 'model.json'), 'utf8'));
  writeFileSync(join(second, 'model.json'), JSON.stringify({ ...meta, name: SECOND_NAME }, null, 2));
  server = await startServer(binary, dataDir, ['--insecure-no-auth', '--model', 'builtin', '--model', second]);
  baseUrl = server.baseUrl;
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.setDefaultTimeout(60_000);  // a guard against hanging on a loaded machine, not a measurement
  page = await context.newPage();
  watch(page);
});

after(async () => {
  if (browser) await browser.close();
  await stopServer(server);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  console.log(`screenshots in ${artifacts}`);
  notes.print();
});

test('the picker of a new dataset lists both models, the default chosen', { timeout: STEP_TIMEOUT }, async () => {
  const listed = await apiGet('/api/sam/models');
  assert.equal(listed.models.length, 2);
  const [first, second] = listed.models;
  assert.notEqual(first.id, second.id);
  assert.equal(listed.default_model, first.id);
  assert.equal(second.name, SECOND_NAME);
  Object.assign(shared, { first, second });

  await openPage(page, `${baseUrl}/`);
  await page.locator('#model-count').waitFor();
  assert.equal(await page.locator('#model-count').textContent(), '+1 more');
  await page.locator('#dataset-name').fill('alpha');
  await page.locator('#pick-files').setInputFiles(files.slice(0, 3));
  await page.waitForURL(/#\/d\/[0-9a-f]+$/);
  shared.alpha = decodeURIComponent(page.url().split('#/d/')[1]);
  assert.deepEqual(await waitForMarks(page, 'pending', 3), ['pending', 'pending', 'pending']);

  const select = page.getByLabel('Model', { exact: true });
  await select.waitFor();
  assert.equal(await select.getAttribute('id'), 'model-select');
  assert.equal(await select.inputValue(), first.id);
  const options = await select.locator('option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options, [[first.id, `${first.name} (default)`], [second.id, second.name]]);
  // The listing asked for the chosen model's marks.
  assert.ok(requests.some((r) => isListing(r.url, shared.alpha, first.id)));
  await screenshot(page, 'models-01-picker');
});

test('pre-warming the second model marks its cache only; the marks follow the picker', { timeout: STEP_TIMEOUT }, async () => {
  const { first, second, alpha } = shared;
  await chooseInDataset(page, alpha, second.id);
  assert.deepEqual(await waitForMarks(page, 'pending', 3), ['pending', 'pending', 'pending']);
  assert.equal(await page.evaluate((key) => localStorage.getItem(key), `samcache.model.${alpha}`), second.id);

  await page.locator('#prewarm-start').click();
  await page.locator('#prewarm-status.completed').waitFor();
  const started = requests.find((r) => r.method === 'POST' && r.url.includes(`/api/sam/dataset/${alpha}/prewarm`));
  assert.equal(new URL(started.url).searchParams.get('model'), second.id);
  assert.match(await page.locator('#prewarm-status .prewarm-progress-text').textContent(), /computed: 3, skipped: 0/);
  assert.equal(await page.locator('#prewarm-model').textContent(), `Model: ${second.name}`);
  assert.deepEqual(await waitForMarks(page, 'cached', 3), ['cached', 'cached', 'cached']);
  assert.match(await page.locator('#dataset-meta').textContent(), /3 of 3 embeddings cached/);
  await screenshot(page, 'models-02-second-warm');

  // The server agrees: the second model's cache has the images, the default's does not.
  const ofSecond = await apiGet(`/api/sam/dataset/${alpha}?model=${second.id}`);
  const ofFirst = await apiGet(`/api/sam/dataset/${alpha}?model=${first.id}`);
  assert.deepEqual(ofSecond.images.map((i) => i.embedding_cached), [true, true, true]);
  assert.deepEqual(ofFirst.images.map((i) => i.embedding_cached), [false, false, false]);

  // Back to the default, from the keyboard: its marks say not cached, and the finished job of
  // the other model is no longer shown.
  const back = page.waitForResponse((r) => isListing(r.url(), alpha, first.id));
  await page.locator('#model-select').focus();
  await page.keyboard.press('ArrowUp');
  await back;
  assert.deepEqual(await waitForMarks(page, 'pending', 3), ['pending', 'pending', 'pending']);
  assert.ok(await page.locator('#prewarm-status').isHidden());
  assert.match(await page.locator('#dataset-meta').textContent(), /0 of 3 embeddings cached/);
  await screenshot(page, 'models-03-default-not-warm');

  await chooseInDataset(page, alpha, second.id);
  assert.deepEqual(await waitForMarks(page, 'cached', 3), ['cached', 'cached', 'cached']);
});

test('the editor segments with the chosen model and names it on the mask and the object', { timeout: STEP_TIMEOUT }, async () => {
  const { first, second, alpha } = shared;
  await page.locator('#grid .thumb-link').first().click();
  await page.locator('#stage.ready').waitFor();
  assert.equal(await page.locator('#model-select').inputValue(), second.id);
  shared.images = (await apiGet(`/api/sam/dataset/${alpha}`)).images;
  // The next image is prepared for the chosen model.
  assert.ok(requests.some((r) => r.method === 'POST'
    && r.url.endsWith(`/api/sam/image/${shared.images[1].id}/warm?model=${second.id}`)));

  const { rect, circle } = scenes[0];
  const clicked = await clickImage(page, ...centreOf(rect));
  assert.equal(clicked.request.model, second.id);
  assert.equal(clicked.answer.model.id, second.id);
  assert.equal(clicked.answer.embedding, 'cached', 'the pre-warm filled this model\'s cache');
  assert.equal(await page.locator('#mask-model').textContent(), `Mask by ${second.name}`);

  await page.locator('#category').fill('red box');
  await page.locator('#save-object').click();
  await page.locator('#objects .object').first().waitFor();
  assert.equal(await page.locator('#objects .object .object-name').textContent(), 'red box');
  assert.equal(await page.locator('#objects .object .object-model').textContent(), second.name);
  assert.ok(await page.locator('#mask-model').isHidden(), 'no mask is being made once it is saved');
  const saved = await apiGet(`/api/sam/image/${shared.images[0].id}/annotations`);
  assert.equal(saved.annotations.length, 1);
  assert.equal(saved.annotations[0].model_id, second.id);

  // The default model from the editor's picker: the next mask is its, and says so.
  await page.locator('#model-select').selectOption(first.id);
  await page.locator('#editor-status').getByText(`Model: ${first.name}.`).waitFor();
  const other = await clickImage(page, circle.cx, circle.cy);
  assert.equal(other.request.model, first.id);
  assert.equal(other.answer.model.id, first.id);
  assert.equal(other.answer.embedding, 'computed');
  assert.equal(await page.locator('#mask-model').textContent(), `Mask by ${first.name}`);
  assert.equal(await page.locator('#objects .object .object-model').textContent(), second.name);
  await screenshot(page, 'models-04-editor');

  // The arrow keys choose in the focused picker and do not move between images.
  const url = page.url();
  await page.locator('#model-select').focus();
  await page.keyboard.press('ArrowDown');
  await page.locator('#editor-status').getByText(`Model: ${second.name}.`).waitFor();
  assert.equal(page.url(), url);
  assert.equal(await page.locator('#model-select').inputValue(), second.id);
});

test('the choice is remembered for its dataset after a reload, and not for another dataset', { timeout: STEP_TIMEOUT }, async () => {
  const { first, second, alpha } = shared;
  await page.reload();
  await page.locator('#stage.ready').waitFor();
  assert.equal(await page.locator('#model-select').inputValue(), second.id);
  await page.locator('#objects .object').first().waitFor();
  assert.equal(await page.locator('#objects .object .object-model').textContent(), second.name);

  await openPage(page, `${baseUrl}/#/d/${alpha}`);
  assert.deepEqual(await waitForMarks(page, 'cached', 3), ['cached', 'cached', 'cached']);
  assert.equal(await page.locator('#model-select').inputValue(), second.id);

  // Another dataset starts with the default model.
  await openPage(page, `${baseUrl}/`);
  await page.locator('#dataset-name').fill('beta');
  await page.locator('#pick-files').setInputFiles([files[3]]);
  await page.waitForURL((u) => u.hash.startsWith('#/d/') && !u.hash.endsWith(alpha));
  shared.beta = decodeURIComponent(page.url().split('#/d/')[1]);
  await waitForMarks(page, 'pending', 1);
  assert.equal(await page.locator('#model-select').inputValue(), first.id);
  assert.equal(await page.evaluate((key) => localStorage.getItem(key), `samcache.model.${shared.beta}`), null);

  // A remembered model the server does not run gives way to the default.
  await page.evaluate((key) => localStorage.setItem(key, 'ffffffffffffffff'), `samcache.model.${shared.beta}`);
  await page.reload();
  await waitForMarks(page, 'pending', 1);
  assert.equal(await page.locator('#model-select').inputValue(), first.id);
  assert.ok(requests.some((r) => isListing(r.url, shared.beta, first.id)));
  assert.ok(!requests.some((r) => r.url.includes('ffffffffffffffff')));
});

test('in a narrow window the picker fits the dataset view and the editor', { timeout: STEP_TIMEOUT }, async () => {
  const narrow = await browser.newContext({ viewport: { width: 400, height: 800 } });
  narrow.setDefaultTimeout(60_000);
  const p = await narrow.newPage();
  watch(p);
  const overflow = () => p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  const fits = async () => {
    const box = await p.locator('#model-select').boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 400, `the picker fits the window: ${JSON.stringify(box)}`);
  };
  await openPage(p, `${baseUrl}/#/d/${shared.alpha}`);
  await p.locator('#grid .thumb').nth(2).waitFor();
  await p.locator('#model-select').waitFor();
  assert.equal(await overflow(), 0);
  await fits();
  await openPage(p, `${baseUrl}/#/d/${shared.alpha}/i/${shared.images[0].id}`);
  await p.locator('#stage.ready').waitFor();
  assert.equal(await overflow(), 0);
  await fits();
  await screenshot(p, 'models-06-narrow-editor');
  await narrow.close();
});

test('a one-model server shows no picker; an object of a model it lacks shows the id\'s start', { timeout: STEP_TIMEOUT }, async () => {
  const { second, alpha, images } = shared;
  await stopServer(server);
  server = await startServer(binary, dataDir, ['--insecure-no-auth']);
  baseUrl = server.baseUrl;
  const listed = await apiGet('/api/sam/models');
  assert.equal(listed.models.length, 1);

  // The default model computed the first image's embedding on the click above, and never
  // the last image's.
  await openPage(page, `${baseUrl}/#/d/${alpha}`);
  const marks = await waitForMarks(page, 'cached', 1);
  assert.equal(marks[0], 'cached');
  assert.equal(marks[2], 'pending');
  assert.ok(await page.locator('#model-picker').isHidden());
  assert.equal(await page.locator('#model-count').count(), 0);

  await openPage(page, `${baseUrl}/#/d/${alpha}/i/${images[0].id}`);
  await page.locator('#stage.ready').waitFor();
  await page.locator('#objects .object').first().waitFor();
  assert.ok(await page.locator('#model-picker').isHidden());
  assert.equal(await page.locator('#objects .object .object-model').textContent(), `model ${second.id.slice(0, 8)}`);
  const clicked = await clickImage(page, ...centreOf(scenes[0].rect));
  assert.equal(clicked.answer.model.id, listed.default_model);
  assert.equal(await page.locator('#mask-model').textContent(), `Mask by ${listed.models[0].name}`);
  await screenshot(page, 'models-05-one-model');
});

test('no console errors or page errors in the whole run', () => {
  assert.deepEqual(problems, []);
});
