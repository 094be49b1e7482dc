// End-to-end tests of the web page: a real `samcache serve` (its own data folder, a free
// loopback port, the page compiled into the binary) driven through Debian's headless
// Chromium by playwright-core. The tests run in order and share the server's state:
// upload → prewarm → re-upload (cached message) → segment → save → export → narrow layout.
//
// Environment: SAMCACHE_BINARY (the samcache executable, required), SAMCACHE_WEB_ARTIFACTS
// (where the screenshots go; a temporary folder when unset), CHROMIUM (default
// /usr/bin/chromium).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, startServer, stopServer } from './harness.mjs';
import { makeScene } from './scenes.mjs';

const binary = process.env.SAMCACHE_BINARY;
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = process.env.SAMCACHE_WEB_ARTIFACTS || mkdtempSync(join(tmpdir(), 'samcache-web-artifacts-'));
const STEP_TIMEOUT = 120_000;

const scenes = [makeScene(0), makeScene(1), makeScene(2)];
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

// Watches a page for console errors, uncaught exceptions and its API requests.
function watch(p, allowed = () => false) {
  p.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location() ? message.location().url : '';
    if (allowed(message.text(), where)) return;
    problems.push(`console error: ${message.text()} (${where})`);
  });
  p.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  p.on('request', (request) => {
    if (request.url().includes('/api/')) {
      requests.push({ method: request.method(), url: request.url(), body: request.postData(), type: request.resourceType() });
    }
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

// Reads pixels of the mask overlay canvas at image coordinates: [[x, y], ...] -> alphas.
function maskAlphas(p, points) {
  return p.evaluate((pts) => {
    const canvas = document.getElementById('mask-layer');
    const ctx = canvas.getContext('2d');
    return pts.map(([x, y]) => ctx.getImageData(x, y, 1, 1).data[3]);
  }, points);
}

// Clicks the editor's canvas at image coordinates (x, y).
async function clickImage(p, x, y, options = {}) {
  const box = await p.locator('#prompt-layer').boundingBox();
  const { width, height } = await p.evaluate(() => {
    const c = document.getElementById('image-layer');
    return { width: c.width, height: c.height };
  });
  await p.mouse.click(box.x + ((x + 0.5) / width) * box.width, box.y + ((y + 0.5) / height) * box.height, options);
}

before(async () => {
  assert.ok(binary, 'SAMCACHE_BINARY must name the samcache executable');
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'samcache-web-'));
  // This file tests the page without accounts (accounts_page.test.mjs tests them).
  server = await startServer(binary, dataDir, ['--insecure-no-auth']);
  baseUrl = server.baseUrl;
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  // A guard against hanging on a loaded machine, not a measurement.
  context.setDefaultTimeout(60_000);
  page = await context.newPage();
  watch(page);
});

after(async () => {
  if (browser) await browser.close();
  await stopServer(server);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  console.log(`screenshots in ${artifacts}`);
});

test('the page is served by the binary and shows the active model', { timeout: STEP_TIMEOUT }, async () => {
  const response = await page.goto(`${baseUrl}/`);
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-type'], /^text\/html/);
  await page.locator('#model-name').waitFor();
  const model = await apiGet('/api/sam/model');
  assert.equal(await page.locator('#model-name').textContent(), model.name);
  assert.equal(model.demo, true);
  assert.equal(await page.locator('#model-demo').textContent(), 'demo model — not SAM');
  await page.getByText('No datasets yet').waitFor();
});

test('uploading 3 images shows them as a grid, and a refused file with its reason', { timeout: STEP_TIMEOUT }, async () => {
  await page.evaluate(() => {
    window.progressTexts = [];
    new MutationObserver(() => {
      const label = document.querySelector('.upload-progress .progress-label');
      if (label && window.progressTexts[window.progressTexts.length - 1] !== label.textContent) {
        window.progressTexts.push(label.textContent);
      }
    }).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  await page.locator('#dataset-name').fill('shapes');
  await page.locator('#pick-files').setInputFiles([
    ...files,
    { name: 'notes.png', mimeType: 'image/png', buffer: Buffer.from('this is text, not a picture\n') },
  ]);
  await page.waitForURL(/#\/d\/[0-9a-f]+$/);
  shared.firstDataset = decodeURIComponent(page.url().split('#/d/')[1]);
  const thumbs = page.locator('#grid .thumb');
  await thumbs.nth(2).waitFor();
  assert.equal(await thumbs.count(), 3);
  assert.equal(await page.locator('#dataset-title').textContent(), 'shapes');
  // The upload went through XMLHttpRequest with a progress bar.
  const progress = await page.evaluate(() => window.progressTexts);
  assert.match(progress[0], /^Uploading 4 files… \d+% \(.+ of .+\)$/);
  const upload = requests.find((r) => r.url.endsWith('/api/sam/dataset/init?name=shapes'));
  assert.equal(upload.type, 'xhr');
  // Nothing is cached yet: every image is marked ⏳.
  for (let i = 0; i < 3; i += 1) {
    assert.equal(await thumbs.nth(i).getAttribute('data-embedding'), 'pending');
    assert.equal(await thumbs.nth(i).locator('.mark').textContent(), '⏳');
  }
  const report = page.locator('#upload-report');
  await report.getByText('Stored 3 images').waitFor();
  const rejected = report.locator('.rejected li');
  assert.equal(await rejected.count(), 1);
  assert.match(await rejected.first().textContent(), /^notes\.png: .+/);
  await page.locator('#grid img').evaluateAll((imgs) => Promise.all(imgs.map((img) => img.decode())));
  await screenshot(page, '02-upload-result');
});

test('prewarm follows the job live and ends with the completion text', { timeout: STEP_TIMEOUT }, async () => {
  // Record every text the progress line shows while the job runs.
  await page.evaluate(() => {
    window.prewarmTexts = [];
    const status = document.getElementById('prewarm-status');
    new MutationObserver(() => {
      const text = status.querySelector('.prewarm-progress-text').textContent;
      if (window.prewarmTexts[window.prewarmTexts.length - 1] !== text) window.prewarmTexts.push(text);
    }).observe(status, { subtree: true, childList: true, characterData: true });
    // Thumbnails whose mark the job's `image` events flip (the cards on the page now, not
    // the ones drawn again once the job has ended).
    window.flipped = [];
    const cards = new Set(document.querySelectorAll('#grid .thumb'));
    new MutationObserver((mutations) => {
      for (const m of mutations) {
        if (cards.has(m.target) && m.target.dataset.embedding === 'cached') window.flipped.push(m.target.dataset.imageId);
      }
    }).observe(document.getElementById('grid'), { subtree: true, attributes: true, attributeFilter: ['data-embedding'] });
  });
  await page.locator('#prewarm-start').click();
  const done = page.locator('#prewarm-status .prewarm-progress-text');
  await page.locator('#prewarm-status.completed').waitFor();
  const text = await done.textContent();
  assert.match(text, /^✓ Dataset ready \(cache: \d+ embeddings, computed: 3, skipped: 0\)$/);
  const texts = await page.evaluate(() => window.prewarmTexts);
  assert.ok(texts.some((t) => /^(⚡ Pre-warming cache\.\.\. \d\/3|Waiting to pre-warm)/.test(t)),
    `the running job was shown before it ended: ${JSON.stringify(texts)}`);
  // The events went over Server-Sent Events, not polling.
  assert.ok(requests.some((r) => /\/api\/sam\/prewarm\/[0-9a-f]+\/events$/.test(r.url)));
  const flipped = await page.evaluate(() => window.flipped);
  const ids = await page.locator('#grid .thumb').evaluateAll((cards) => cards.map((c) => c.dataset.imageId));
  assert.deepEqual([...new Set(flipped)].sort(), [...ids].sort(), 'each thumbnail turned ⚡ on its own image event');
  // Each thumbnail now says ⚡.
  const thumbs = page.locator('#grid .thumb');
  await page.locator('#grid .thumb[data-embedding="cached"]').nth(2).waitFor();
  for (let i = 0; i < 3; i += 1) assert.equal(await thumbs.nth(i).locator('.mark').textContent(), '⚡');
  assert.match(await page.locator('#dataset-meta').textContent(), /3 of 3 embeddings cached/);
  await screenshot(page, '03-prewarm-done');
});

test('a new dataset of 2 dropped images already seen says they are cached', { timeout: STEP_TIMEOUT }, async () => {
  await page.locator('a.brand').click();
  await page.locator('#dataset-list .row').first().waitFor();
  // Drop two of the files on the box, as a person drags them from a file manager.
  const transfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: 'image/png' }));
    }
    return dt;
  }, files.slice(0, 2).map((f) => ({ name: f.name, base64: f.buffer.toString('base64') })));
  const zone = page.locator('.dropzone');
  await zone.dispatchEvent('dragenter', { dataTransfer: transfer });
  await zone.dispatchEvent('dragover', { dataTransfer: transfer });
  await zone.dispatchEvent('drop', { dataTransfer: transfer });
  await page.waitForURL((url) => url.hash.startsWith('#/d/') && !url.hash.endsWith(shared.firstDataset));
  shared.secondDataset = decodeURIComponent(page.url().split('#/d/')[1]);
  const box = page.locator('#upload-report .callout-success');
  await box.waitFor();
  assert.equal((await box.textContent()).trim(), '✓ 2 image(s) already cached, prewarm will be faster');
  const thumbs = page.locator('#grid .thumb');
  await thumbs.nth(1).waitFor();
  assert.equal(await thumbs.count(), 2);
  for (let i = 0; i < 2; i += 1) {
    assert.equal(await thumbs.nth(i).locator('.mark').textContent(), '⚡');
    assert.equal(await thumbs.nth(i).locator('.badge-dup').textContent(), 'duplicate');
  }
  await page.locator('#grid img').evaluateAll((imgs) => Promise.all(imgs.map((img) => img.decode())));
  await screenshot(page, '04-cached-upload');

  await page.locator('a.brand').click();
  await page.locator('#dataset-list .row').nth(1).waitFor();
  await screenshot(page, '01-datasets');
});

test('a click inside a shape puts mask pixels on the canvas there and nowhere far', { timeout: STEP_TIMEOUT }, async () => {
  await page.goto(`${baseUrl}/#/d/${shared.firstDataset}`);
  await page.locator('#grid .thumb-link').first().click();
  await page.locator('#stage.ready').waitFor();
  const { rect, circle } = scenes[0];
  const centre = [Math.floor((rect.x0 + rect.x1) / 2), Math.floor((rect.y0 + rect.y1) / 2)];
  await clickImage(page, ...centre);
  await page.waitForFunction(([x, y]) => {
    const ctx = document.getElementById('mask-layer').getContext('2d');
    return ctx.getImageData(x, y, 1, 1).data[3] > 0;
  }, centre);
  // Inside the rectangle (a grid of points a little in from its edges): covered.
  const inside = [];
  for (let x = rect.x0 + 4; x < rect.x1 - 4; x += 10) {
    for (let y = rect.y0 + 4; y < rect.y1 - 4; y += 10) inside.push([x, y]);
  }
  const insideAlphas = await maskAlphas(page, inside);
  const covered = insideAlphas.filter((a) => a > 0).length;
  assert.ok(covered >= inside.length * 0.9, `mask covers ${covered} of ${inside.length} points inside the rectangle`);
  // The background far away and the green circle: not covered.
  const outside = [[310, 230], [5, 235], [300, 10], [circle.cx, circle.cy], [circle.cx - 20, circle.cy + 10]];
  assert.deepEqual(await maskAlphas(page, outside), outside.map(() => 0));

  const predict = requests.filter((r) => r.url.endsWith('/api/sam/predict'));
  assert.equal(predict.length, 1);
  assert.deepEqual(JSON.parse(predict[0].body).points, [{ x: centre[0] + 0.5, y: centre[1] + 0.5, label: 1 }]);
  await screenshot(page, '05-editor-mask');

  // A right click adds a background point and refines the previous mask.
  await clickImage(page, 300, 20, { button: 'right' });
  await page.locator('#stage[data-prompts="2"]').waitFor();
  const second = requests.filter((r) => r.url.endsWith('/api/sam/predict'));
  assert.equal(second.length, 2);
  const body = JSON.parse(second[1].body);
  assert.equal(body.points.length, 2);
  assert.equal(body.points[1].label, 0);
  assert.ok(body.refine_from, 'the second prompt refines the first prediction');
  assert.ok((await maskAlphas(page, [centre]))[0] > 0);

  // Undo goes back one prompt, Clear removes the mask.
  await page.locator('#undo').click();
  await page.locator('#stage[data-prompts="1"]').waitFor();
  await page.locator('#clear').click();
  await page.locator('#stage[data-prompts="0"]').waitFor();
  assert.equal((await maskAlphas(page, [centre]))[0], 0);

  // A drag draws a box, and the box alone segments the rectangle.
  const layer = await page.locator('#prompt-layer').boundingBox();
  const at = (x, y) => [layer.x + (x / scenes[0].width) * layer.width, layer.y + (y / scenes[0].height) * layer.height];
  await page.mouse.move(...at(rect.x0 - 6, rect.y0 - 6));
  await page.mouse.down();
  await page.mouse.move(...at(centre[0], centre[1]), { steps: 4 });
  await page.mouse.move(...at(rect.x1 + 6, rect.y1 + 6), { steps: 4 });
  await page.mouse.up();
  await page.locator('#stage[data-prompts="1"]').waitFor();
  const boxed = JSON.parse(requests.filter((r) => r.url.endsWith('/api/sam/predict')).at(-1).body);
  assert.equal(boxed.points, undefined);
  assert.equal(boxed.box.length, 4);
  assert.ok(Math.abs(boxed.box[0] - (rect.x0 - 6)) <= 1 && Math.abs(boxed.box[3] - (rect.y1 + 6)) <= 1, JSON.stringify(boxed.box));
  const boxedAlphas = await maskAlphas(page, inside);
  assert.ok(boxedAlphas.filter((a) => a > 0).length >= inside.length * 0.9);
  assert.deepEqual(await maskAlphas(page, outside), outside.map(() => 0));
});

test('the next image is prepared ahead, and the arrow keys move between images', { timeout: STEP_TIMEOUT }, async () => {
  const dataset = await apiGet(`/api/sam/dataset/${shared.firstDataset}`);
  shared.images = dataset.images;
  // The warm-up names the chosen model (here the only one).
  const model = await apiGet('/api/sam/model');
  assert.ok(requests.some((r) => r.method === 'POST'
      && r.url.endsWith(`/api/sam/image/${dataset.images[1].id}/warm?model=${model.id}`)),
    'opening image 1 asked for image 2\'s embedding');
  assert.equal(await page.locator('#editor-position').textContent(), '1 / 3');
  assert.ok(await page.locator('#prev-image').isDisabled());
});

test('a named object is saved, listed, and exported as COCO from the page and the API', { timeout: STEP_TIMEOUT }, async () => {
  await page.locator('#category').fill('red box');
  await page.locator('#save-object').click();
  await page.locator('#objects .object').first().waitFor();
  assert.equal(await page.locator('#objects .object .object-name').textContent(), 'red box');
  const listed = await apiGet(`/api/sam/image/${shared.images[0].id}/annotations`);
  assert.equal(listed.annotations.length, 1);
  assert.equal(listed.annotations[0].category, 'red box');

  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#editor-export').click()]);
  assert.equal(download.suggestedFilename(), 'shapes.coco.json');
  const fromPage = JSON.parse(readFileSync(await download.path(), 'utf8'));
  const fromApi = await apiGet(`/api/sam/dataset/${shared.firstDataset}/export/coco`);
  for (const coco of [fromPage, fromApi]) {
    assert.equal(coco.images.length, 3);
    assert.equal(coco.annotations.length, 1);
    const category = coco.categories.find((c) => c.name === 'red box');
    assert.ok(category, JSON.stringify(coco.categories));
    const annotation = coco.annotations[0];
    assert.equal(annotation.category_id, category.id);
    assert.equal(coco.images.find((i) => i.id === annotation.image_id).file_name, 'scene-1.png');
    assert.deepEqual(annotation.segmentation.size, [scenes[0].height, scenes[0].width]);
    assert.equal(typeof annotation.segmentation.counts, 'string');
    const [x, y, w, h] = annotation.bbox;
    const { rect } = scenes[0];
    // The box lies around the rectangle the click was in.
    assert.ok(x <= rect.x0 + 2 && y <= rect.y0 + 2 && x + w >= rect.x1 - 2 && y + h >= rect.y1 - 2,
      `bbox ${annotation.bbox} around ${JSON.stringify(rect)}`);
    assert.ok(annotation.area > 0);
  }

  // The saved object stays drawn when the prompts are gone, and the arrow key moves on.
  await page.locator('#prompt-layer').focus();
  await page.keyboard.press('ArrowRight');
  await page.waitForURL((url) => url.hash.endsWith(`/i/${shared.images[1].id}`));
  // The URL changes before the hashchange handler swaps the editor, so wait for the new one.
  await page.locator(`#stage.ready[data-image="${shared.images[1].id}"]`).waitFor();
  assert.equal(await page.locator('#editor-position').textContent(), '2 / 3');
  assert.equal(await page.locator('#editor-title').textContent(), 'scene-2.png');
  await page.keyboard.press('ArrowLeft');
  await page.waitForURL((url) => url.hash.endsWith(`/i/${shared.images[0].id}`));
  await page.locator(`#stage.ready[data-image="${shared.images[0].id}"]`).waitFor();
  await page.locator('#objects .object').first().waitFor();
  const centre = [Math.floor((scenes[0].rect.x0 + scenes[0].rect.x1) / 2), Math.floor((scenes[0].rect.y0 + scenes[0].rect.y1) / 2)];
  assert.ok((await maskAlphas(page, [centre]))[0] > 0, 'the saved object is drawn');
});

test('an API error is shown to the user in words', { timeout: STEP_TIMEOUT }, async () => {
  const errorPage = await context.newPage();
  // The browser itself logs the 404 of this one request; anything else is a problem.
  watch(errorPage, (text, where) => /status of 404/.test(text) && where.includes('/api/sam/dataset/0000000000000000'));
  await errorPage.goto(`${baseUrl}/#/d/0000000000000000`);
  const notice = errorPage.locator('#notices .notice-error');
  await notice.first().waitFor();
  const expected = await (await fetch(`${baseUrl}/api/sam/dataset/0000000000000000`)).json();
  assert.ok(expected.error);
  assert.match(await notice.first().textContent(), new RegExp(expected.error.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
  await errorPage.close();
});

test('a narrow window shows the dataset and the editor without horizontal scrolling', { timeout: STEP_TIMEOUT }, async () => {
  const narrow = await browser.newContext({ viewport: { width: 400, height: 800 } });
  narrow.setDefaultTimeout(60_000);
  const p = await narrow.newPage();
  watch(p);
  const overflow = () => p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
  await p.goto(`${baseUrl}/`);
  await p.locator('#dataset-list .row').nth(1).waitFor();
  assert.equal(await overflow(), 0);
  await screenshot(p, '06-narrow-datasets');
  await p.goto(`${baseUrl}/#/d/${shared.firstDataset}`);
  await p.locator('#grid .thumb').nth(2).waitFor();
  await p.locator('#grid img').evaluateAll((imgs) => Promise.all(imgs.map((img) => img.decode())));
  assert.equal(await overflow(), 0);
  await screenshot(p, '07-narrow-dataset');
  await p.goto(`${baseUrl}/#/d/${shared.firstDataset}/i/${shared.images[0].id}`);
  await p.locator('#stage.ready').waitFor();
  await p.locator('#objects .object').first().waitFor();
  assert.equal(await overflow(), 0);
  const stage = await p.locator('#stage').boundingBox();
  assert.ok(stage.x >= 0 && stage.x + stage.width <= 400, `the picture fits the window: ${JSON.stringify(stage)}`);
  await screenshot(p, '08-narrow-editor');
  await narrow.close();
});

test('a dataset is deleted after confirming', { timeout: STEP_TIMEOUT }, async () => {
  await page.goto(`${baseUrl}/#/`);
  const row = page.locator(`#dataset-list .row[data-dataset-id="${shared.secondDataset}"]`);
  await row.waitFor();
  await row.getByRole('button', { name: /Delete/ }).click();
  await page.locator('#confirm[open]').waitFor();
  await page.locator('#confirm-ok').click();
  await row.waitFor({ state: 'detached' });
  const { datasets } = await apiGet('/api/sam/datasets');
  assert.deepEqual(datasets.map((d) => d.id), [shared.firstDataset]);
});

test('no console errors or page errors in the whole run', () => {
  assert.deepEqual(problems, []);
});
