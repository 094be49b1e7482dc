// The page with accounts, in Debian's headless Chromium against a real `samcache serve` (its
// own data folder, a free loopback port). The tests run in order and share the server:
// the first-start login link → the admin makes projects A and B and the user "ann" (member
// of A) → ann logs in with her password and sees only A → a viewer's pages and editor show
// nothing that changes data, and a lost session behind a thumbnail brings the login screen →
// the admin changes ann's role and password on the admin page → a token made for ann works until
// the admin revokes it → a page on another loopback origin can neither change anything nor
// frame the page → no CSP violation anywhere in the run.
//
// Environment: SAMCACHE_BINARY (the samcache executable, required), SAMCACHE_WEB_ARTIFACTS
// (where the screenshots go; a temporary folder when unset), CHROMIUM (default
// /usr/bin/chromium).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, pageFetch, pageUpload, startServer, stopServer } from './harness.mjs';
import { startOtherOrigin } from './other_origin.mjs';
import { makeScene } from './scenes.mjs';

const binary = process.env.SAMCACHE_BINARY;
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = process.env.SAMCACHE_WEB_ARTIFACTS || mkdtempSync(join(tmpdir(), 'samcache-web-artifacts-'));
const webDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'web');
const STEP_TIMEOUT = 120_000;
const LOGIN_LINK = /http:\/\/127\.0\.0\.1:\d+\/login\?token=(sc_[0-9a-f]{64})/;
const ANN_PASSWORD = 'ann-password-1';
const B_DATASET = 'b-only-dataset-7f3a';  // must never show on ann's pages

const png = makeScene(0).png;
const png2 = makeScene(1).png;

let dataDir;
let server;
let baseUrl;
let other;  // the second loopback origin (another port): the "attacker"
let otherUrl;
let browser;
const contexts = {};
const pages = {};
const problems = [];  // console errors, page errors and CSP violations on samcache's pages
const expectedErrors = [];  // (text, where) => true for the console errors a step asks for
const shared = {};

// Watches a samcache page: console errors (but the 401s and 404s a test expects), page
// errors and CSP violations (the init script below reports those as console errors too).
function watch(p, allowed = () => false) {
  p.on('console', (message) => {
    if (message.type() !== 'error') return;
    const where = message.location() ? message.location().url : '';
    if (allowed(message.text(), where) || expectedErrors.some((f) => f(message.text(), where))) return;
    problems.push(`console error: ${message.text()} (${where})`);
  });
  p.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
}

// 401s are expected whenever a test is logged out; they are the browser's own log lines.
const loggedOutNoise = (text) => /status of 401/.test(text);

async function newContext(name, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ...options });
  context.setDefaultTimeout(60_000);  // a guard against hanging on a loaded machine, not a measurement
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI} in ${e.sourceFile}:${e.lineNumber}`);
    });
  });
  contexts[name] = context;
  return context;
}

async function newPage(name, context, allowed = loggedOutNoise) {
  const p = await context.newPage();
  if (allowed !== null) watch(p, allowed);
  pages[name] = p;
  return p;
}

async function screenshot(p, name) {
  await p.screenshot({ path: join(artifacts, `${name}.png`), fullPage: true });
}

// The admin's view of every dataset, over the API with the admin's session.
async function allDatasets() {
  const { status, body } = await pageFetch(pages.admin, 'GET', '/api/sam/datasets');
  assert.equal(status, 200);
  return body.datasets;
}

before(async () => {
  assert.ok(binary, 'SAMCACHE_BINARY must name the samcache executable');
  mkdirSync(artifacts, { recursive: true });
  dataDir = mkdtempSync(join(tmpdir(), 'samcache-web-accounts-'));
  server = await startServer(binary, dataDir, [], LOGIN_LINK);
  baseUrl = server.baseUrl;
  shared.loginLink = server.match[0];
  other = await startOtherOrigin(baseUrl, png2);
  otherUrl = other.url;
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  if (browser) await browser.close();
  await stopServer(server);
  if (other) await other.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  console.log(`screenshots in ${artifacts}`);
});

test('the page and its scripts hold nothing the CSP forbids', () => {
  const html = readFileSync(join(webDir, 'index.html'), 'utf8');
  for (const tag of html.match(/<script\b[^>]*>/g)) assert.match(tag, /\bsrc=/, `an inline script: ${tag}`);
  assert.doesNotMatch(html, /\son[a-z]+\s*=/i, 'an inline event handler in index.html');
  const scripts = [];
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(dir, entry.name));
      else if (entry.name.endsWith('.js')) scripts.push(join(dir, entry.name));
    }
  };
  walk(join(webDir, 'js'));
  assert.ok(scripts.length > 10);
  for (const file of scripts) {
    const text = readFileSync(file, 'utf8');
    assert.doesNotMatch(text, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/, file);
    assert.doesNotMatch(text, /setAttribute\(\s*['"]on/, file);
  }
});

test('a: the first-start login link logs the admin in', { timeout: STEP_TIMEOUT }, async () => {
  const context = await newContext('admin');
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: baseUrl });
  const p = await newPage('admin', context);
  // Logged out, the page is the login screen.
  const first = await p.goto(`${baseUrl}/`);
  assert.equal(first.status(), 200);
  assert.match(first.headers()['content-security-policy'], /script-src 'self'/);
  await p.locator('#login').waitFor();
  assert.equal(await p.locator('#account').isHidden(), true);
  // The printed link: the server sets the session cookie and sends the page to /.
  await p.goto(shared.loginLink);
  assert.equal(p.url(), `${baseUrl}/`);
  await p.locator('#user-name').waitFor();
  assert.equal(await p.locator('#user-name').textContent(), 'admin');
  await p.locator('#model-name').waitFor();
  const cookie = (await context.cookies(baseUrl)).find((c) => c.name === 'samcache_session');
  assert.ok(cookie, 'the session cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(await p.evaluate(() => document.cookie.includes('samcache_session')), false);
  await screenshot(p, 'accounts-01-admin');
});

test('a: a used login link says so on the login screen', { timeout: STEP_TIMEOUT }, async () => {
  const p = await newPage('stranger', await newContext('stranger'));
  await p.goto(shared.loginLink);
  await p.locator('#login').waitFor();
  assert.match(await p.locator('#login-error').textContent(), /This login link was used already or has expired/);
  assert.equal(new URL(p.url()).search, '', 'the page drops ?login=failed from its address');
  // A wrong password is answered on the same screen.
  await p.locator('#login-user').fill('admin');
  await p.locator('#login-password').fill('not the password');
  await p.locator('#login-password-submit').click();
  await p.locator('#login-error', { hasText: /wrong user name or password/ }).waitFor();
  assert.equal(await p.locator('#user-name').count(), 0);
  await screenshot(p, 'accounts-02-login-failed');
});

test('b: the admin page makes projects A and B and the user ann, member of A', { timeout: STEP_TIMEOUT }, async () => {
  const p = pages.admin;
  await p.locator('#admin-link').click();
  await p.locator('#admin #add-project-form').waitFor();
  for (const name of ['Project A', 'Project B']) {
    await p.locator('#new-project-name').fill(name);
    await p.locator('#add-project').click();
    await p.locator(`#projects-list li[data-project-name="${name}"]`).waitFor();
  }
  shared.projectA = await p.locator('#projects-list li[data-project-name="Project A"]').getAttribute('data-project-id');
  shared.projectB = await p.locator('#projects-list li[data-project-name="Project B"]').getAttribute('data-project-id');
  // The header's switcher offers the new projects too.
  await p.locator(`#project-select option[value="${shared.projectB}"]`).waitFor({ state: 'attached' });

  await p.locator('#new-user-name').fill('ann');
  await p.locator('#new-user-role').selectOption('annotator');
  await p.locator('#new-user-password').fill(ANN_PASSWORD);
  await p.locator('#add-user').click();
  const annRow = p.locator('#users-body tr[data-user-name="ann"]');
  await annRow.waitFor();
  assert.equal(await annRow.locator('.user-role select').inputValue(), 'annotator');
  shared.annId = await annRow.getAttribute('data-user-id');

  const rowA = p.locator('#projects-list li[data-project-name="Project A"]');
  await rowA.locator('.members-toggle').click();
  await rowA.locator('.member-form').waitFor();
  await rowA.locator('.member-user').selectOption({ label: 'ann' });
  await rowA.locator('.member-new-role').selectOption('annotator');
  await rowA.locator('.member-add').click();
  await rowA.locator('.member[data-user-name="ann"]').waitFor();
  const members = await pageFetch(p, 'GET', `/api/sam/project/${shared.projectA}/members`);
  assert.deepEqual(members.body.members.map((m) => [m.user_name, m.role]), [['ann', 'annotator']]);
  const membersB = await pageFetch(p, 'GET', `/api/sam/project/${shared.projectB}/members`);
  assert.deepEqual(membersB.body.members, []);
  await screenshot(p, 'accounts-03-admin-page');

  // A dataset in B, made by the admin over the API.
  const made = await pageUpload(p, `/api/sam/dataset/init?project=${shared.projectB}&name=${B_DATASET}`, png2);
  assert.equal(made.status, 200, JSON.stringify(made.body));
  shared.datasetB = made.body.dataset_id;
});

test('b: ann logs in with her password, uploads into A and sees only A', { timeout: STEP_TIMEOUT }, async () => {
  const context = await newContext('ann');
  // The browser logs the 404 of B's dataset and the 403 of the users' list, both asked for
  // on purpose below.
  const p = await newPage('ann', context,
    (text, where) => loggedOutNoise(text) || (/status of 404/.test(text) && where.includes(shared.datasetB))
      || (/status of 403/.test(text) && where.endsWith('/api/sam/users')));
  await p.goto(`${baseUrl}/`);
  await p.locator('#login').waitFor();
  await p.locator('#login-user').fill('ann');
  await p.locator('#login-password').fill(ANN_PASSWORD);
  await p.locator('#login-password-submit').click();
  await p.locator('#user-name').waitFor();
  assert.equal(await p.locator('#user-name').textContent(), 'ann');
  // The switcher offers A only; ann is no admin.
  const options = await p.locator('#project-select option').evaluateAll((os) => os.map((o) => [o.value, o.textContent]));
  assert.deepEqual(options, [[shared.projectA, 'Project A']]);
  assert.equal(await p.locator('#admin-link').count(), 0);
  assert.equal(await p.locator('#tokens-link').count(), 1);
  await p.getByText('No datasets yet').waitFor();

  const uploads = [];
  p.on('request', (r) => {
    if (r.url().includes('/api/sam/dataset/init')) uploads.push(r.url());
  });
  await p.locator('#dataset-name').fill('ann-a-dataset');
  await p.locator('#pick-files').setInputFiles([{ name: 'a.png', mimeType: 'image/png', buffer: png }]);
  await p.waitForURL(/#\/d\/[0-9a-f]+$/);
  shared.datasetA = decodeURIComponent(p.url().split('#/d/')[1]);
  assert.deepEqual(uploads, [`${baseUrl}/api/sam/dataset/init?project=${shared.projectA}&name=ann-a-dataset`]);
  await p.locator('#grid .thumb').first().waitFor();
  const dataset = await pageFetch(p, 'GET', `/api/sam/dataset/${shared.datasetA}`);
  assert.equal(dataset.body.project_id, shared.projectA);

  await p.goto(`${baseUrl}/#/`);
  await p.locator(`#dataset-list .row[data-dataset-id="${shared.datasetA}"]`).waitFor();
  assert.equal(await p.locator('#dataset-list .row').count(), 1);
  // B's dataset, by id, is as unknown to ann as a made-up one.
  const refused = await pageFetch(p, 'GET', `/api/sam/dataset/${shared.datasetB}`);
  assert.equal(refused.status, 404);
  const listB = await pageFetch(p, 'GET', `/api/sam/datasets?project=${shared.projectB}`);
  assert.ok(listB.status === 404 || (listB.status === 200 && listB.body.datasets.length === 0), JSON.stringify(listB));
  await p.goto(`${baseUrl}/#/d/${shared.datasetB}`);
  await p.locator('#notices .notice-error').first().waitFor();
  const html = await p.content();
  assert.ok(!html.includes(B_DATASET), 'the name of B\'s dataset is nowhere on ann\'s page');
  assert.ok(!html.includes('Project B'), 'the name of project B is nowhere on ann\'s page');
  await screenshot(p, 'accounts-04-ann');

  // The admin sees both datasets; each in its project under the switcher.
  const ids = (await allDatasets()).map((d) => d.id).sort();
  assert.deepEqual(ids, [shared.datasetA, shared.datasetB].sort());
});

test('b: a viewer of A sees its datasets without the buttons that change them', { timeout: STEP_TIMEOUT }, async () => {
  const admin = pages.admin;
  const made = await pageFetch(admin, 'POST', '/api/sam/users', { name: 'vic', role: 'viewer', password: 'vic-password-1' });
  assert.equal(made.status, 201, JSON.stringify(made.body));
  const member = await pageFetch(admin, 'PUT', `/api/sam/project/${shared.projectA}/members/vic`, { role: 'viewer' });
  assert.equal(member.status, 200, JSON.stringify(member.body));
  // The browser logs the 403 of the upload vic tries on purpose below.
  const p = await newPage('vic', await newContext('vic'),
    (text, where) => loggedOutNoise(text) || (/status of 403/.test(text) && where.includes('/api/sam/dataset/init')));
  await p.goto(`${baseUrl}/`);
  await p.locator('#login-user').fill('vic');
  await p.locator('#login-password').fill('vic-password-1');
  await p.locator('#login-password-submit').click();
  await p.locator(`#dataset-list .row[data-dataset-id="${shared.datasetA}"]`).waitFor();
  assert.equal(await p.locator('#view-only').count(), 1);
  assert.equal(await p.locator('#pick-files').count(), 0);
  assert.equal(await p.locator('#dataset-list .row button').count(), 0, 'no delete button');
  assert.match(await p.locator('#project-select option').first().textContent(), /view only/);
  await p.goto(`${baseUrl}/#/d/${shared.datasetA}`);
  await p.locator('#grid .thumb').first().waitFor();
  assert.equal(await p.locator('.dataset .toolbar button:visible').count(), 1, 'only the export button');
  assert.equal(await p.locator('#export-coco').isVisible(), true);
  assert.equal(await p.locator('#pick-files').count(), 1);
  assert.equal(await p.locator('#pick-files').locator('xpath=ancestor::section[contains(@class,"dropzone")]').isHidden(), true);
  const refused = await pageUpload(p, `/api/sam/dataset/init?project=${shared.projectA}`, png2);
  assert.equal(refused.status, 403);
  // A narrow window keeps the header's account area inside the page.
  await p.setViewportSize({ width: 400, height: 800 });
  await p.goto(`${baseUrl}/#/`);
  await p.locator('#dataset-list .row').first().waitFor();
  assert.equal(await p.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth), 0);
  await screenshot(p, 'accounts-05-viewer-narrow');
});

test('b: a viewer opens the editor: the picture and its objects, no tools that change them', { timeout: STEP_TIMEOUT }, async () => {
  const p = pages.vic;
  const dataset = await pageFetch(p, 'GET', `/api/sam/dataset/${shared.datasetA}`);
  assert.equal(dataset.status, 200);
  const imageId = dataset.body.images[0].id;
  // Ann (annotator of A) saves an object over the API: the viewer sees it, without a delete button.
  const predicted = await pageFetch(pages.ann, 'POST', '/api/sam/predict',
    { image_id: imageId, points: [{ x: 40, y: 30, label: 1 }] });
  assert.equal(predicted.status, 200, JSON.stringify(predicted.body));
  const saved = await pageFetch(pages.ann, 'POST', `/api/sam/image/${imageId}/annotations`,
    { category: 'seen-by-vic', segmentation: predicted.body.masks[0].rle, score: predicted.body.masks[0].score });
  assert.ok(saved.status === 200 || saved.status === 201, JSON.stringify(saved.body));
  const predictions = [];
  p.on('request', (r) => {
    if (/\/api\/sam\/(predict|image\/[^/]+\/warm)/.test(r.url())) predictions.push(r.url());
  });
  await p.setViewportSize({ width: 1280, height: 800 });
  await p.goto(`${baseUrl}/#/d/${shared.datasetA}/i/${imageId}`);
  await p.locator(`#stage.ready[data-image="${imageId}"]`).waitFor();
  assert.equal(await p.locator('#save-object').count(), 0, 'no Save button');
  assert.equal(await p.locator('#object-form').count(), 0);
  assert.equal(await p.locator('#editor-view-only').isVisible(), true);
  assert.match(await p.locator('#editor-view-only').textContent(), /View only/);
  await p.locator('#objects .object[data-annotation-id]', { hasText: 'seen-by-vic' }).waitFor();
  assert.equal(await p.locator('#objects button').count(), 0, 'no delete button');
  assert.equal(await p.locator('#prev-image').isVisible(), true);
  assert.equal(await p.locator('#next-image').isVisible(), true);
  // A click on the picture asks nothing of the server.
  await p.locator('#prompt-layer').click({ position: { x: 40, y: 40 } });
  await p.locator('#stage').click({ position: { x: 60, y: 60 } });
  assert.equal(await p.locator('#stage').getAttribute('data-prompts'), '0');
  assert.deepEqual(predictions, []);
  await screenshot(p, 'accounts-05-viewer-editor');
});

test('b: a thumbnail refused for a lost session brings the login screen', { timeout: STEP_TIMEOUT }, async () => {
  const p = pages.vic;
  await p.goto(`${baseUrl}/#/d/${shared.datasetA}`);
  const img = p.locator('#grid .thumb img').first();
  await img.waitFor();
  await p.waitForFunction(() => {
    const i = document.querySelector('#grid .thumb img');
    return i && i.complete && i.naturalWidth > 0;
  });
  // The session ends behind the page's back (its cookie is gone); only the picture asks next.
  await contexts.vic.clearCookies();
  await img.evaluate((i) => {
    const url = new URL(i.src);
    url.searchParams.set('again', '1');
    i.src = url.href;
  });
  await p.locator('#login').waitFor();
  assert.equal(await p.locator('#user-name').count(), 0);
});

test('b: the admin changes a user\'s role and password on the admin page', { timeout: STEP_TIMEOUT }, async () => {
  const p = pages.admin;
  // The browser logs the refusals asked for on purpose below.
  const refusals = (text, where) => /status of (400|409)/.test(text) && where.includes('/api/sam/user/');
  expectedErrors.push(refusals);
  const roleOf = async (name) => (await pageFetch(p, 'GET', '/api/sam/users')).body.users.find((u) => u.name === name).role;
  await p.goto(`${baseUrl}/#/admin`);
  const annRole = () => p.locator('#users-body tr[data-user-name="ann"] .user-role select');
  await annRole().waitFor();
  assert.equal(await annRole().inputValue(), 'annotator');
  for (const role of ['viewer', 'annotator']) {
    await annRole().selectOption(role);
    await p.locator('#notices .notice-info', { hasText: `“ann” is now ${role}.` }).waitFor();
    assert.equal(await roleOf('ann'), role);
    await annRole().waitFor();
    assert.equal(await annRole().inputValue(), role, 'the redrawn list shows the new role');
  }
  // The only admin cannot stop being one: the server's reason shows and the select keeps admin.
  const adminRole = p.locator('#users-body tr[data-user-name="admin"] .user-role select');
  await adminRole.selectOption('viewer');
  await p.locator('#notices .notice-error').first().waitFor();
  assert.match(await p.locator('#notices .notice-error').last().textContent(), /admin/);
  await p.waitForFunction(() => document.querySelector('#users-body tr[data-user-name="admin"] .user-role select:enabled')
    && document.querySelector('#users-body tr[data-user-name="admin"] .user-role select').value === 'admin');
  assert.equal(await roleOf('admin'), 'admin');

  // A short password is refused with the server's words; a good one lets ann log in with it.
  const annRow = p.locator('#users-body tr[data-user-name="ann"]');
  const errorsBefore = await p.locator('#notices .notice-error').count();
  await annRow.locator('.user-new-password').fill('short');
  await annRow.locator('.user-set-password').click();
  await p.waitForFunction((n) => document.querySelectorAll('#notices .notice-error').length > n, errorsBefore);
  assert.match(await p.locator('#notices .notice-error').last().textContent(), /8/);
  await annRow.locator('.user-new-password').fill('ann-password-2');
  await annRow.locator('.user-set-password').click();
  await p.locator('#notices .notice-info', { hasText: 'Set a new password for “ann”.' }).waitFor();
  const login = await pageFetch(pages.stranger, 'POST', '/api/sam/login', { user: 'ann', password: 'ann-password-2' });
  assert.equal(login.status, 200, JSON.stringify(login.body));
  assert.equal(login.body.user.name, 'ann');
  await screenshot(p, 'accounts-05-admin-user-changed');
  expectedErrors.splice(expectedErrors.indexOf(refusals), 1);
});

test('c: a token made for ann on the admin page logs her in until it is revoked', { timeout: STEP_TIMEOUT }, async () => {
  const admin = pages.admin;
  await admin.goto(`${baseUrl}/#/admin`);
  await admin.locator('#token-form').waitFor();
  await admin.locator('#token-name').fill('ann-laptop');
  await admin.locator('#token-user').selectOption({ label: 'ann' });
  await admin.locator('#token-create').click();
  await admin.locator('#token-secret').waitFor();
  const secret = await admin.locator('#token-secret').inputValue();
  assert.match(secret, /^sc_[0-9a-f]{64}$/);
  await admin.locator('#copy-secret').click();
  await admin.locator('#copy-state', { hasText: 'Copied.' }).waitFor();
  assert.equal(await admin.evaluate(() => navigator.clipboard.readText()), secret);
  const row = admin.locator('#tokens-body tr[data-token-name="ann-laptop"]');
  await row.waitFor();
  assert.equal(await row.locator('.token-last-used').textContent(), 'never');
  assert.equal(await row.locator('.token-state').textContent(), 'active');
  await screenshot(admin, 'accounts-05-token-secret');

  // Ann, in a fresh browser, logs in with the token on the login screen.
  const byToken = await newPage('annToken', await newContext('annToken'));
  await byToken.goto(`${baseUrl}/`);
  await byToken.locator('#login-token').fill(secret);
  await byToken.locator('#login-token-submit').click();
  await byToken.locator('#user-name').waitFor();
  assert.equal(await byToken.locator('#user-name').textContent(), 'ann');
  await byToken.locator(`#dataset-list .row[data-dataset-id="${shared.datasetA}"]`).waitFor();

  // A program's way: the token as Bearer on every request (no cookie at all).
  const bearerContext = await newContext('annBearer', { extraHTTPHeaders: { Authorization: `Bearer ${secret}` } });
  const bearer = await newPage('annBearer', bearerContext);
  await bearer.goto(`${baseUrl}/`);
  await bearer.locator('#user-name').waitFor();
  await bearer.locator(`#dataset-list .row[data-dataset-id="${shared.datasetA}"]`).waitFor();
  assert.equal((await bearerContext.cookies(baseUrl)).length, 0);

  // The admin's list shows the use; revoking happens on the same page.
  await admin.reload();
  await row.waitFor();
  assert.notEqual(await row.locator('.token-last-used').textContent(), 'never');
  await row.getByRole('button', { name: /Revoke/ }).click();
  await admin.locator('#confirm[open]').waitFor();
  await admin.locator('#confirm-ok').click();
  await row.locator('.token-state', { hasText: /^revoked/ }).waitFor();

  // The revoked token is refused over the API...
  const refused = await fetch(`${baseUrl}/api/sam/me`, { headers: { Authorization: `Bearer ${secret}` } });
  assert.equal(refused.status, 401);
  // ... and on the page: ann's next API call (opening "My tokens") is refused and the login
  // screen takes over; a reload lands there too.
  await bearer.locator('#tokens-link').click();
  await bearer.locator('#login').waitFor();
  assert.equal(await bearer.locator('#user-name').count(), 0);
  await bearer.reload();
  await bearer.locator('#login').waitFor();
  await screenshot(bearer, 'accounts-06-revoked');

  // The session ann opened with the token ends when she logs out: its cookie is refused after.
  const session = (await contexts.annToken.cookies(baseUrl)).find((c) => c.name === 'samcache_session');
  assert.ok(session);
  await byToken.locator('#logout').click();
  await byToken.locator('#login').waitFor();
  const afterLogout = await fetch(`${baseUrl}/api/sam/me`, { headers: { Cookie: `samcache_session=${session.value}` } });
  assert.equal(afterLogout.status, 401);
});

test('c: a user who is no admin manages their own tokens under "My tokens"', { timeout: STEP_TIMEOUT }, async () => {
  const p = pages.ann;
  await p.goto(`${baseUrl}/#/tokens`);
  await p.locator('#token-form').waitFor();
  assert.equal(await p.locator('#token-user').count(), 0, 'no choice of user');
  await p.locator('#token-name').fill('ann-script');
  await p.locator('#token-days').fill('30');
  await p.locator('#token-create').click();
  const secret = await p.locator('#token-secret').inputValue();
  assert.match(secret, /^sc_[0-9a-f]{64}$/);
  const row = p.locator('#tokens-body tr[data-token-name="ann-script"]');
  await row.waitFor();
  assert.notEqual(await row.locator('td').nth(3).textContent(), 'never', 'it expires');
  // Ann's list holds her own tokens only (the admin's revoked one for her, and this one).
  const names = await p.locator('#tokens-body tr').evaluateAll((rows) => rows.map((r) => r.dataset.tokenName).sort());
  assert.deepEqual(names, ['ann-laptop', 'ann-script']);
  await row.getByRole('button', { name: /Revoke/ }).click();
  await p.locator('#confirm-ok').click();
  await row.locator('.token-state', { hasText: /^revoked/ }).waitFor();
  assert.equal((await fetch(`${baseUrl}/api/sam/me`, { headers: { Authorization: `Bearer ${secret}` } })).status, 401);
  // The admin page is not hers: the server refuses its lists.
  assert.equal((await pageFetch(p, 'GET', '/api/sam/users')).status, 403);
});

test('d: a page on another origin cannot change anything with the admin\'s cookie', { timeout: STEP_TIMEOUT }, async () => {
  const before = (await allDatasets()).map((d) => d.id).sort();
  const projectsBefore = (await pageFetch(pages.admin, 'GET', '/api/sam/projects')).body.projects.length;
  // The attacker's page runs in the admin's browser, so the session cookie goes along
  // (127.0.0.1 on another port is the same site): only the Origin check stands in the way.
  const p = await newPage('attack', contexts.admin, null);
  const logged = new Promise((resolve) => {
    p.on('console', (message) => {
      if (message.text().startsWith('results ')) resolve(JSON.parse(message.text().slice(8)));
    });
  });
  // What samcache answered, seen below the page (the page itself may not read those answers):
  // the DevTools protocol's raw requests and responses.
  const cdp = await contexts.admin.newCDPSession(p);
  await cdp.send('Network.enable');
  const sent = new Map();     // request id -> "METHOD url"
  const cookies = new Map();  // request id -> the Cookie header sent
  const answered = [];        // "METHOD url -> status"
  cdp.on('Network.requestWillBeSent', (e) => sent.set(e.requestId, `${e.request.method} ${e.request.url}`));
  cdp.on('Network.requestWillBeSentExtraInfo', (e) => cookies.set(e.requestId, e.headers.Cookie || e.headers.cookie || ''));
  cdp.on('Network.responseReceivedExtraInfo', (e) => answered.push([e.requestId, e.statusCode]));
  await p.goto(`${otherUrl}/attack?victim=${shared.datasetB}`);
  const results = await logged;
  const expected = ['POST /api/sam/dataset/init?name=from-fetch', 'POST /api/sam/projects',
    `OPTIONS /api/sam/dataset/${shared.datasetB}`];
  let samcache = [];
  const find = (request) => samcache.find((r) => r.request === request);
  // The protocol's events may trail the page's own view of the fetches: wait for them.
  for (;;) {
    samcache = answered.filter(([id]) => (sent.get(id) || '').includes(baseUrl))
      .map(([id, status]) => ({ id, request: sent.get(id).replace(baseUrl, ''), status, cookie: cookies.get(id) || '' }));
    const posts = samcache.filter((r) => r.request.startsWith('POST'));
    if (expected.every((request) => find(request)) && posts.every((r) => cookies.has(r.id))) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // The upload and the JSON-as-text POST went out with the admin's cookie and were refused.
  for (const request of ['POST /api/sam/dataset/init?name=from-fetch', 'POST /api/sam/projects']) {
    assert.ok(find(request), `${request} reached samcache: ${JSON.stringify(samcache)}`);
    assert.equal(find(request).status, 403, request);
    assert.match(find(request).cookie, /samcache_session=/, `${request} carried the session cookie`);
  }
  // The DELETE never went: its preflight got no CORS grant.
  assert.ok(find(`OPTIONS /api/sam/dataset/${shared.datasetB}`).status >= 400, 'the preflight is refused');
  assert.ok(!samcache.some((r) => r.request.startsWith('DELETE')), JSON.stringify(samcache));
  // And the page learnt nothing (Cross-Origin-Resource-Policy hides even the opaque answer).
  for (const outcome of [results.post, results.project, results.delete]) assert.match(outcome, /^failed|^opaque$/);
  // The script's last act submits the form, which lands on samcache's refusal.
  await p.waitForURL(`${baseUrl}/api/sam/dataset/init?name=from-form`);
  const refusal = JSON.parse(await p.locator('body').textContent());
  assert.match(refusal.error, /another origin/);

  const after = await allDatasets();
  assert.deepEqual(after.map((d) => d.id).sort(), before, 'no dataset was added or deleted');
  assert.ok(!after.some((d) => ['from-fetch', 'from-form'].includes(d.name)));
  const projects = (await pageFetch(pages.admin, 'GET', '/api/sam/projects')).body.projects;
  assert.equal(projects.length, projectsBefore);
  assert.ok(!projects.some((x) => x.name === 'from-csrf'));
  await p.close();
});

test('e: another origin cannot frame the page', { timeout: STEP_TIMEOUT }, async () => {
  const response = await fetch(`${baseUrl}/`);
  assert.equal(response.headers.get('x-frame-options'), 'DENY');
  assert.match(response.headers.get('content-security-policy'), /frame-ancestors 'none'/);
  const p = await newPage('frame', contexts.admin, null);
  const fromFrame = [];
  p.on('request', (r) => {
    if (r.frame() !== p.mainFrame()) fromFrame.push(r.url());
  });
  // The load event waits for the frame's own load (of whatever it shows).
  await p.goto(`${otherUrl}/frame`, { waitUntil: 'load' });
  const frame = p.frames().find((f) => f !== p.mainFrame());
  assert.ok(frame);
  // The frame holds Chromium's error page, not samcache: none of the page's own files load.
  await frame.waitForLoadState();
  assert.equal(await frame.locator('#main').count(), 0);
  assert.ok(!fromFrame.some((url) => url.includes('/web/')), `the frame loaded ${fromFrame.join(', ')}`);
  await screenshot(p, 'accounts-07-framed');
  await p.close();
});

test('f: no CSP violation, console error or page error on samcache\'s pages in the whole run', () => {
  assert.deepEqual(problems, []);
});
