// The web UI end to end in headless Chromium, as a researcher and an admin use
// it, at 1280 px and 390 px:
// - the catalogue, with app icons through blob: URLs, sharp at 2x;
// - memory round-trips: the registry's quantity, the card, the dialog and the
//   Deployment in the simulated cluster are one amount, and a launch left at
//   the defaults gets what `tycho launch` gets;
// - launch progress: a bar and four plain steps updated in place (no repeated
//   line, no internal words), the image size, the Launch button disabled, one
//   next step; a launch that fails shows the Kubernetes reason and a next step;
// - a second launch of an app at its limit offers the running session (open
//   it, or stop it and launch again);
// - My sessions: aligned actions, a User column for admins, an empty state
//   leading back to Apps, cards without sideways scrolling on a phone;
// - admin: charts with labels of at least 11 px, range and step chosen from the
//   data, labelled axes, values on hover and in tables; the history as CSV;
// - the dialog closes when the route changes; the anonymous loopback mode
//   explains "For user"; /docs fits a phone and renders code spans;
// - behind a trusted proxy the user is named by a header;
// - axe-core finds no serious or critical violation on any view.
// Every request the page makes must go to the tycho server itself.
import { createRequire } from 'module';
import { readFileSync } from 'fs';
import path from 'path';

const require = createRequire(path.join(process.env.PW_DIR, 'x.js'));
const { chromium } = require('playwright-core');
const axeSource = require('axe-core').source;

const BASE = process.env.TYCHO_URL;
const SHOTS = process.env.SHOTS;
const SRC = process.env.TY_SOURCE_DIR;
const failures = [];
function check(cond, what) {
  if (!cond) { console.log('FAIL: ' + what); failures.push(what); }
  return cond;
}

async function api(token, method, p, body, base = BASE) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = 'Bearer ' + token;
  const res = await fetch(base + p, { method, headers, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, json: await res.json().catch(() => null) };
}

// Bytes of a Kubernetes quantity or of the UI's words ("4 GB", "512 MiB"):
// written here, apart from the UI's own code, so the two are compared.
function bytesOf(text) {
  const m = /^\s*([0-9.]+)\s*([kKMGT]i?B?|bytes)?\s*$/.exec(String(text));
  if (!m) return NaN;
  const u = (m[2] || '').replace(/B$/, '').replace(/^k/, 'K');
  const f = { '': 1, bytes: 1, K: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3, Ti: 1024 ** 4 }[u];
  return f ? Math.round(parseFloat(m[1]) * f) : NaN;
}

// The app's limits.memory as its docker-compose.yaml in the registry says it.
function specMemoryLimit(app) {
  const text = readFileSync(path.join(SRC, 'registry', 'app-specs', app, 'docker-compose.yaml'), 'utf8');
  return /limits:\s*\n(?:\s+\w+:.*\n)*?\s+memory:\s*"?([^"\s]+)"?/.exec(text)[1];
}

// The first container of the session's Deployment in the simulated cluster.
async function deploymentContainer(sessionId) {
  const h = await (await fetch(BASE + '/healthz')).json();
  const res = await fetch(`${h.cluster_url}/apis/apps/v1/namespaces/default/deployments?labelSelector=tycho-guid%3D${sessionId}`);
  const list = await res.json();
  const d = (list.items || [])[0];
  return d ? d.spec.template.spec.containers[0] : null;
}

async function waitSession(token, id, states, base = BASE) {
  let s = null;
  for (let i = 0; i < 150; i++) {
    s = (await api(token, 'GET', '/v1/sessions/' + id, null, base)).json;
    if (s && states.includes(s.state)) return s;
    await new Promise(r => setTimeout(r, 200));
  }
  return s;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});

// Anything the page's Content-Security-Policy blocks is a failure.
function watchPolicy(page) {
  page.on('console', m => {
    if (/Content Security Policy/i.test(m.text())) check(false, 'blocked by the policy: ' + m.text());
  });
}

// Fails on page errors and on any request that does not go to server.
function watchPage(page, server) {
  page.on('request', r => {
    const u = r.url();
    check(u.startsWith(server) || u.startsWith('data:') || u.startsWith('blob:' + server),
      'request outside the server: ' + u);
  });
  page.on('pageerror', e => check(false, 'page error: ' + e.message));
  watchPolicy(page);
}

// axe-core on what the page shows now (run through the debugging protocol,
// which the page's policy does not govern): no serious or critical violation.
const axeViews = [];
async function axe(page, view) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  const bad = r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical');
  axeViews.push(view);
  check(!bad.length, `axe on ${view}: ` + JSON.stringify(bad.map(v => ({
    id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))));
}

async function shot(page, name, full) {
  await page.screenshot({ path: path.join(SHOTS, name), fullPage: !!full });
}

async function signIn(token, viewport, setup) {
  const ctx = await browser.newContext({ viewport: viewport || { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await ctx.newPage();
  if (setup) await setup(page);
  watchPage(page, BASE);
  const res = await page.goto(BASE + '/');
  check(/script-src 'self'/.test(res.headers()['content-security-policy'] || ''),
    'the UI is served with a Content-Security-Policy');
  await page.waitForSelector('#view-signin:not([hidden])');
  await page.getByLabel('Access token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForSelector('#view-apps:not([hidden])');
  return { ctx, page };
}

// Records, on every change of the progress steps, whether the Launch button
// could be pressed: it must never be while a launch is followed.
async function watchLaunchButton(page) {
  await page.evaluate(() => {
    window.__go = [];
    const go = document.querySelector('#launch-go');
    new MutationObserver(() => window.__go.push({ disabled: go.disabled, hidden: go.hidden }))
      .observe(document.querySelector('#launch-progress'), { subtree: true, attributes: true, childList: true, characterData: true });
  });
}

// Opens the launch dialog of appId, optionally picks a memory choice by its
// label, launches, and waits for the end: 'ready', 'failed' or 'offer'.
async function launchApp(page, appId, { memory, shotName } = {}) {
  if (await page.isHidden('#view-apps')) await page.click('a[data-nav="apps"]');
  await page.waitForSelector(`[data-launch="${appId}"]`);
  await page.click(`[data-launch="${appId}"]`);
  await page.waitForSelector('#launch-dialog[open]');
  if (memory) await page.selectOption('#launch-memory', { label: memory });
  if (shotName) await shot(page, shotName);
  await watchLaunchButton(page);
  await page.click('#launch-go');
  await page.waitForSelector('#open-app, #launch-steps li.failed, #launch-next .offer', { timeout: 60000 });
  if (await page.$('#open-app')) return 'ready';
  if (await page.$('#launch-next .offer')) return 'offer';
  return 'failed';
}

// The step lines as the researcher reads them.
async function stepLines(page) {
  return page.$$eval('#launch-steps li', lis => lis.map(li => ({
    step: li.dataset.step, cls: li.className, text: li.querySelector('.label').textContent + li.querySelector('.detail').textContent })));
}

async function sessionIdOf(token, app, states = ['running']) {
  const items = (await api(token, 'GET', '/v1/sessions?state=live')).json.items;
  const s = items.find(x => x.app === app && states.includes(x.state));
  return s && s.id;
}

try {
  const apps = (await api(process.env.ALICE, 'GET', '/v1/apps')).json.items;
  check(apps.length >= 4, 'the test registry has apps');
  const jl = apps.find(a => a.id === 'jupyterlab');
  // Every bundled app has an icon.png; the test's broken app has none (its
  // icon_url answers 404, and its card keeps the letter).
  const withIcons = apps.filter(a => a.id !== 'broken');

  // ---- Bob launches first; Alice must never see it.  Bob's browser gets no
  // progress stream (as when every stream slot is taken: 503 + Retry-After):
  // the UI follows the launch by polling.
  const bob = await signIn(process.env.BOB);
  await bob.page.route('**/v1/sessions/*/progress', route => route.fulfill({
    status: 503, contentType: 'application/json', headers: { 'Retry-After': '2' },
    body: JSON.stringify({ error: { code: 'limit', message: 'all stream slots are in use' } }),
  }));
  check(await launchApp(bob.page, 'jupyterlab') === 'ready', 'bob reaches ready by polling');
  check((await bob.page.textContent('#launch-mode')).includes('polling'), 'the dialog says it polls');
  const bobSessions = (await api(process.env.BOB, 'GET', '/v1/sessions')).json.items.map(s => s.id);
  check(bobSessions.length === 1, 'bob has one session');
  await bob.page.click('#launch-cancel');

  // ---- Alice: the catalogue.
  const alice = await signIn(process.env.ALICE);
  const { page } = alice;
  check(await page.isVisible('#sim-banner'), 'simulated-cluster banner');
  check((await page.$$('#app-list article')).length === apps.length, 'catalogue lists the apps');
  check(apps.every(a => a.icon_url === '/v1/apps/' + a.id + '/icon'), 'apps carry icon_url');
  await page.waitForFunction(() => { const a = document.querySelector('#app-list article[aria-labelledby="app-broken"] .avatar');
    return a && a.textContent === 'B'; });
  await page.waitForFunction(n => {
    const imgs = [...document.querySelectorAll('#app-list article .avatar img')];
    return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0);
  }, withIcons.length, { timeout: 10000 }).catch(() => {});
  const icons = await page.$$eval('#app-list article .avatar img', imgs => imgs.map(i =>
    ({ src: i.src, alt: i.alt, w: i.naturalWidth, shown: i.getBoundingClientRect().width,
       hidden: i.closest('[aria-hidden="true"]') !== null })));
  check(icons.length === withIcons.length && icons.every(i => i.src.startsWith('blob:' + BASE + '/')),
    'catalogue icons are blob: URLs: ' + JSON.stringify(icons));
  // Sharp on a 2x screen: at least twice as many pixels as the box shows.
  check(icons.every(i => i.w >= 2 * i.shown && i.shown > 0), 'icons carry 2x pixels: ' + JSON.stringify(icons));
  check(icons.every(i => i.alt === '' && i.hidden), 'icons are decorative (alt="", aria-hidden)');
  await shot(page, 'catalogue.png', true);
  await axe(page, 'catalogue');
  await page.fill('#app-search', apps[1].name);
  check((await page.$$('#app-list article')).length >= 1, 'search keeps the match');
  await page.fill('#app-search', '');

  // ---- Memory: registry == card == dialog == Deployment.
  const specMem = specMemoryLimit('jupyterlab');
  check(jl.resources.max.memory === specMem, `the app view has the spec's limit ${specMem}`);
  const card = (await page.textContent('[data-limits="jupyterlab"]')).trim();
  const cardMem = /·\s*(.+)$/.exec(card);
  check(cardMem && bytesOf(cardMem[1]) === bytesOf(specMem), `card "${card}" is the registry's ${specMem}`);
  await page.click('[data-launch="jupyterlab"]');
  await page.waitForSelector('#launch-dialog[open]');
  const chosen = await page.$eval('#launch-memory', s => ({ value: s.value, label: s.selectedOptions[0].textContent,
    all: [...s.options].map(o => [o.value, o.textContent]) }));
  check(chosen.value === specMem && bytesOf(chosen.label) === bytesOf(specMem),
    'the dialog offers the registry amount by default: ' + JSON.stringify(chosen));
  check(chosen.all.every(([v, l]) => bytesOf(v) === bytesOf(l)), 'every choice says what it sends: ' + JSON.stringify(chosen.all));
  check(chosen.all.every(([v]) => bytesOf(v) <= bytesOf(specMem) && bytesOf(v) >= bytesOf(jl.resources.min.memory)),
    'choices stay within the app\'s bounds: ' + JSON.stringify(chosen.all));
  await shot(page, 'launch-dialog.png');
  await axe(page, 'launch dialog');
  await page.click('#launch-cancel');

  check(await launchApp(page, 'jupyterlab') === 'ready', 'alice launches jupyterlab');
  // Progress: four plain steps, all done, no line twice, no internal words.
  const steps = await stepLines(page);
  check(steps.map(s => s.step).join() === 'scheduled,pulling,starting,ready' && steps.every(s => s.cls === 'done'),
    'four steps, all done: ' + JSON.stringify(steps));
  const texts = steps.map(s => s.text);
  check(new Set(texts).size === texts.length, 'no step line repeated: ' + texts);
  const pulling = steps.find(s => s.step === 'pulling').text;
  check(/jupyter\/scipy-notebook/.test(pulling) && /\(\d+(\.\d+)? [MG]i?B\)/.test(pulling),
    'the pulling step names the image and its size: ' + pulling);
  const dialogText = await page.textContent('#launch-dialog');
  check(!/objects created|replica|creating|Deployment|launch [0-9a-f]{8}|-[0-9a-f]{10}-/.test(dialogText),
    'no internal words in the progress: ' + dialogText);
  check(await page.getAttribute('#launch-bar', 'aria-valuenow') === '100', 'the bar is full');
  check(await page.isHidden('#launch-problem'), 'no Kubernetes reason when nothing is wrong');
  const goStates = await page.evaluate(() => window.__go);
  check(goStates.length > 0 && goStates.every(g => g.disabled || g.hidden),
    'the Launch button is never pressable while launching: ' + JSON.stringify(goStates.slice(0, 5)));
  const openLink = await page.$('#open-app');
  check(openLink && (await openLink.getAttribute('href')).includes('/private/') &&
    (await openLink.textContent()) === 'Open JupyterLab', 'one next step: Open JupyterLab');
  await shot(page, 'launch-ready.png');
  await axe(page, 'launch progress (ready)');
  await page.click('#launch-cancel');
  const sid = await sessionIdOf(process.env.ALICE, 'jupyterlab');
  const c1 = await deploymentContainer(sid);
  check(c1 && c1.resources.limits.memory === specMem,
    `the Deployment gets the registry's ${specMem}: ` + JSON.stringify(c1 && c1.resources));
  // ... exactly as a launch that names no memory (what `tycho launch` sends).
  const carol = await api(process.env.ADMIN, 'POST', '/v1/sessions', { app: 'jupyterlab', username: 'carol' });
  const cc = await deploymentContainer(carol.json.id);
  check(cc && JSON.stringify(cc.resources) === JSON.stringify(c1.resources),
    'a UI launch gets what an API launch with the defaults gets: ' + JSON.stringify([c1.resources, cc && cc.resources]));
  await api(process.env.ADMIN, 'DELETE', '/v1/sessions/' + carol.json.id);

  // ---- A second launch of an app at its limit (count 1) offers the session.
  const offered = await launchApp(page, 'jupyterlab', { memory: '2 GB' });
  check(offered === 'offer', 'a second launch offers the running session: ' + offered);
  check(/You already have JupyterLab running/.test(await page.textContent('#launch-next')),
    'the offer names the app: ' + await page.textContent('#launch-next'));
  const open = await page.$(`[data-open="${sid}"]`);
  check(open && (await open.getAttribute('href')) === (await api(process.env.ALICE, 'GET', '/v1/sessions/' + sid)).json.url,
    'the offer opens the running session');
  check(await page.isVisible(`[data-replace="${sid}"]`), 'the offer can stop it and launch again');
  check(!(await page.textContent('#launch-dialog')).includes('refused'), 'no bare refusal');
  await shot(page, 'launch-offer.png');
  await axe(page, 'launch offer');
  // Stop it and launch again, with the 2 GB chosen in the dialog.
  await page.click(`[data-replace="${sid}"]`);
  await page.waitForSelector('#open-app, #launch-steps li.failed', { timeout: 60000 });
  check(await page.$('#open-app'), 'stopped and launched again');
  check((await api(process.env.ALICE, 'GET', '/v1/sessions/' + sid)).json.state === 'stopped', 'the old session is stopped');
  await page.click('#launch-cancel');
  const sid2 = await sessionIdOf(process.env.ALICE, 'jupyterlab');
  check(sid2 && sid2 !== sid, 'a new session');
  const c2 = await deploymentContainer(sid2);
  check(c2 && bytesOf(c2.resources.limits.memory) === 2e9 && bytesOf(c2.resources.requests.memory) === 2e9,
    'the Deployment gets the 2 GB chosen: ' + JSON.stringify(c2 && c2.resources));

  // ---- My sessions.
  await page.click('a[data-nav="sessions"]');
  await page.waitForSelector('#session-table tbody tr');
  const rows = await page.$$eval('#session-table tbody tr', trs => trs.map(t => t.dataset.session));
  check(rows.length === 1 && rows[0] === sid2, 'alice sees exactly her one live session: ' + rows);
  check(!rows.some(id => bobSessions.includes(id)), "alice never sees bob's session");
  check(await page.isHidden('#session-table th.user'), 'no User column for a user');
  const rowText = await page.textContent('#session-table tbody tr');
  check(rowText.includes('running') && rowText.includes('2 GB'), 'her session is running with 2 GB: ' + rowText);
  // Actions line up: same top, same height.
  const boxes = await page.$$eval('#session-table tbody tr .row-actions > :not(.slot)', es =>
    es.map(e => { const r = e.getBoundingClientRect(); return [Math.round(r.top), Math.round(r.height)]; }));
  check(boxes.length === 3 && boxes.every(b => b[0] === boxes[0][0] && b[1] === boxes[0][1]),
    'Open, Culling and Stop are aligned: ' + JSON.stringify(boxes));
  // The culler warns idle sessions (the test server warns at once): the list says so.
  for (let i = 0; i < 40 && !(await page.$('[data-warned]')); i++) {
    await page.waitForTimeout(250);
    await Promise.all([page.waitForResponse(r => r.url().includes('/v1/sessions?')),
      page.click('#sessions-refresh')]);
    await page.waitForSelector('#session-table tbody tr');
  }
  check(await page.$(`[data-warned="${sid2}"]`), 'the culling notice is shown');
  await shot(page, 'my-sessions.png');
  await axe(page, 'my sessions');
  await page.click('#session-table tbody tr .row-actions button:not(.danger):not(.warn-badge)');
  await page.waitForFunction(() => document.querySelector('#idle-text').textContent.length > 20);
  check((await page.textContent('#idle-detail')).includes('Last active'), 'culling explanation');
  await shot(page, 'culling.png');
  await axe(page, 'culling dialog');
  await page.click('#idle-dialog button[type=submit]');

  // ---- Phone: sessions as cards, nothing to scroll sideways.
  const phone = await signIn(process.env.ALICE, { width: 390, height: 844 });
  const pp = phone.page;
  await pp.click('a[data-nav="sessions"]');
  await pp.waitForSelector('#session-cards li');
  check(await pp.isHidden('#session-table'), 'no table on a phone');
  const fit = await pp.evaluate(() => ({
    scroll: document.scrollingElement.scrollWidth, width: innerWidth,
    actions: [...document.querySelectorAll('#session-cards .row-actions > :not(.slot)')]
      .map(e => { const r = e.getBoundingClientRect(); return [Math.round(r.left), Math.round(r.right), r.width > 0]; }),
  }));
  check(fit.scroll <= fit.width && fit.actions.length === 3 && fit.actions.every(([l, r, w]) => w && l >= 0 && r <= fit.width),
    'phone cards: every action in reach without sideways scrolling: ' + JSON.stringify(fit));
  await shot(pp, 'my-sessions-phone.png', true);
  await axe(pp, 'my sessions (phone)');

  // ---- A launch that fails: the Kubernetes reason, then one next step.
  check(await launchApp(page, 'broken') === 'failed', 'the broken app fails');
  const failed = await stepLines(page);
  check(failed.filter(s => s.cls === 'failed').length === 1, 'one step failed: ' + JSON.stringify(failed));
  const problem = await page.$$eval('#launch-problem p', ps => ps.map(p => p.textContent));
  check(problem.some(p => /ErrImagePull|ImagePullBackOff|Failed/.test(p)), 'the Kubernetes reason is shown: ' + problem);
  check(new Set(problem).size === problem.length, 'no problem line repeated: ' + problem);
  check(problem.some(p => /image could not be downloaded/.test(p)), 'said in plain words: ' + problem);
  check((await page.$$('#launch-next a, #launch-next button')).length === 1, 'one next step after a failure');
  await shot(page, 'launch-failed.png');
  await axe(page, 'launch failed');
  await page.click('#launch-cancel');

  // ---- The dialog closes when the route changes.
  await page.click('a[data-nav="apps"]');
  await page.click('[data-launch="nginx"]');
  await page.waitForSelector('#launch-dialog[open]');
  await page.evaluate(() => { location.hash = '#/sessions'; });
  await page.waitForSelector('#view-sessions:not([hidden])');
  check(!(await page.$('#launch-dialog[open]')), 'the launch dialog closes on a route change');

  // ---- Stop from the UI, then the empty state leads back to Apps.
  await page.waitForSelector(`#session-table tr[data-session="${sid2}"] button.danger`);
  page.once('dialog', d => d.accept());
  await page.click(`#session-table tr[data-session="${sid2}"] button.danger`);
  check((await waitSession(process.env.ALICE, sid2, ['stopped'])).state === 'stopped', 'stop from the UI');
  await page.selectOption('#session-state', '');
  await page.waitForFunction(() => document.querySelector('#session-table tbody').textContent.includes('stopped'));
  await page.selectOption('#session-state', 'live');
  await page.waitForSelector('#sessions-empty:not([hidden])');
  check((await page.textContent('#sessions-empty')).includes('no running or starting sessions'), 'empty state says so');
  await shot(page, 'my-sessions-empty.png');
  await axe(page, 'my sessions (empty)');
  await page.click('#sessions-empty a[href="#/apps"]');
  await page.waitForSelector('#view-apps:not([hidden])');
  check(!(await page.isVisible('a[data-nav="admin"]')), 'no admin link for a user');

  // ---- Phone catalogue: a missing icon (404) and one the browser cannot
  // decode both keep the letter.
  const [noIcon, badIcon, goodIcon] = withIcons;
  const ph2 = await signIn(process.env.ALICE, { width: 390, height: 800 }, async p => {
    await p.route(`**/v1/apps/${noIcon.id}/icon`, route => route.fulfill({
      status: 404, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'not_found', message: `app ${noIcon.id} has no icon` } }),
    }));
    await p.route(`**/v1/apps/${badIcon.id}/icon`, route => route.fulfill({
      status: 200, contentType: 'image/png', body: 'not a png' }));
  });
  const avatar = id => `#app-list article[aria-labelledby="app-${id}"] .avatar`;
  await ph2.page.waitForSelector(avatar(goodIcon.id) + ' img[src^="blob:"]');
  await ph2.page.waitForFunction(sel => {
    const a = document.querySelector(sel);
    return a && !a.querySelector('img') && a.textContent.length === 1;
  }, avatar(badIcon.id), { timeout: 5000 }).catch(() => {});
  for (const a of [noIcon, badIcon]) {
    const got = await ph2.page.$eval(avatar(a.id), e => ({ img: !!e.querySelector('img'), text: e.textContent }));
    check(!got.img && got.text === (a.name || a.id).slice(0, 1).toUpperCase(),
      `letter avatar when ${a.id}'s icon fails: ` + JSON.stringify(got));
  }
  check(await ph2.page.evaluate(() => document.scrollingElement.scrollWidth <= innerWidth), 'catalogue fits a phone');
  await shot(ph2.page, 'catalogue-phone.png', true);
  await axe(ph2.page, 'catalogue (phone)');
  await ph2.ctx.close();

  // ---- Admin: sessions of everyone with a User column, charts, history, CSV.
  const admin = await signIn(process.env.ADMIN);
  const ap = admin.page;
  await ap.click('a[data-nav="sessions"]');
  await ap.waitForSelector('#session-table tbody tr');
  check(await ap.isVisible('#session-table th.user'), 'a User column for admins');
  const adminUsers = await ap.$$eval('#session-table tbody td.user', tds => tds.map(t => t.textContent));
  check(adminUsers.includes('bob'), 'admin sees whose sessions they are: ' + adminUsers);
  check((await ap.textContent('#sessions-title')) === 'Sessions', 'titled Sessions for an admin');
  await shot(ap, 'sessions-admin.png');
  await axe(ap, 'sessions (admin)');

  await ap.click('a[data-nav="admin"]');
  await ap.waitForSelector('#history-table tbody tr');
  await ap.waitForSelector('#chart-concurrent svg');
  const users = await ap.$$eval('#history-table tbody tr td:nth-child(2)', tds => tds.map(t => t.textContent));
  check(users.includes('alice') && users.includes('bob'), 'admin history shows both users: ' + users);
  for (const c of ['days', 'apps', 'users']) check((await ap.$$(`#chart-${c} svg rect.bar`)).length >= 1, c + ' chart bars');
  // Every chart label is at least 11 px on screen.
  const sizes = await ap.$$eval('.chart svg text', ts => ts.map(t => {
    const svg = t.ownerSVGElement;
    const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
    return { text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale };
  }));
  check(sizes.length > 10 && sizes.every(s => s.px >= 11), 'chart labels >= 11 px: ' +
    JSON.stringify(sizes.filter(s => s.px < 11).slice(0, 5)));
  // The concurrency chart's range and step come from the data (minutes old),
  // not a fixed 7 days by the hour; its axes are labelled.
  const step = parseInt(await ap.getAttribute('#chart-concurrent', 'data-step'), 10);
  check(step > 0 && step <= 300, 'a step chosen from the data: ' + step);
  const titles = await ap.$$eval('#chart-concurrent .axis-title', ts => ts.map(t => t.textContent));
  check(titles.includes('Sessions') && titles.includes('Time (UTC)'), 'labelled axes: ' + titles);
  check(/peak [1-9]/.test(await ap.getAttribute('#chart-concurrent svg', 'aria-label')), 'the chart has its peak');
  // Values on hover, and in a table for screen readers.
  const cbox = await (await ap.$('#chart-concurrent svg')).boundingBox();
  await ap.mouse.move(cbox.x + cbox.width - 20, cbox.y + cbox.height / 2);
  await ap.waitForSelector('#chart-concurrent .chart-tip:not([hidden])', { timeout: 3000 }).catch(() => {});
  const tip = await ap.$eval('#chart-concurrent .chart-tip', t => t.textContent).catch(() => '');
  check(/UTC: \d+ sessions?$/.test(tip), 'a value on hover: ' + tip);
  await shot(ap, 'admin-hover.png');
  for (const c of ['concurrent', 'days', 'apps', 'users']) {
    const t = await ap.$$eval(`#chart-${c} table.chart-table tbody tr`, trs => trs.length);
    check(t >= 1 && await ap.$(`#chart-${c} table.chart-table caption`), `${c}: a table for screen readers`);
  }
  check((await ap.textContent('#registry-info')).includes('Source'), 'registry status');
  await shot(ap, 'admin.png', true);
  await axe(ap, 'admin');
  // Filter, then export the filter as CSV.
  await ap.fill('#history-form input[name=user]', 'alice');
  await ap.click('#history-form button[type=submit]');
  await ap.waitForFunction(() => [...document.querySelectorAll('#history-table tbody tr td:nth-child(2)')]
    .every(t => t.textContent === 'alice'));
  const aliceTotal = (await api(process.env.ADMIN, 'GET', '/v1/admin/history?user=alice')).json;
  check((await ap.textContent('#history-total')).startsWith(aliceTotal.total + ' '), 'filtered history total');
  const [download] = await Promise.all([ap.waitForEvent('download'), ap.click('#history-export')]);
  const csv = readFileSync(await download.path(), 'utf8').trim().split('\r\n');
  check(csv[0].startsWith('id,created_at,') && download.suggestedFilename().endsWith('.csv'), 'a CSV download: ' + csv[0]);
  const csvIds = csv.slice(1).map(l => l.split(',')[0]);
  check(JSON.stringify(csvIds) === JSON.stringify(aliceTotal.items.map(s => s.id)),
    'the CSV holds the filtered history: ' + csvIds);
  await ap.click('#registry-reload');
  await ap.waitForFunction(() => /Reloaded|failed/.test(document.querySelector('#registry-msg').textContent));
  check((await ap.textContent('#registry-msg')).startsWith('Reloaded'), 'registry reload');
  await shot(ap, 'admin-filtered.png', true);
  // The admin view at 390 px.
  await ap.setViewportSize({ width: 390, height: 844 });
  await ap.waitForTimeout(300);
  const adminPhone = await ap.evaluate(() => document.scrollingElement.scrollWidth);
  check(adminPhone <= 390, 'admin fits a phone: ' + adminPhone);
  const phoneSizes = await ap.$$eval('.chart svg text', ts => ts.map(t => {
    const svg = t.ownerSVGElement;
    return parseFloat(getComputedStyle(t).fontSize) * svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  }));
  check(phoneSizes.every(px => px >= 11), 'chart labels >= 11 px on a phone');
  await shot(ap, 'admin-phone.png', true);
  await ap.setViewportSize({ width: 1280, height: 900 });
  // Keyboard: the skip link is the first tab stop of a fresh page.
  await ap.reload();
  await ap.waitForSelector('#view-admin:not([hidden])');
  await ap.keyboard.press('Tab');
  check(await ap.evaluate(() => document.activeElement.classList.contains('skip')), 'skip link first');

  // ---- Trusted-proxy mode (a second server): the proxy names the user in
  // X-Remote-User, so nobody signs in and there is nothing to sign out of.
  const PROXY = process.env.PROXY_URL;
  const carolCtx = await browser.newContext({ extraHTTPHeaders: { 'X-Remote-User': 'carol' } });
  const cp = await carolCtx.newPage();
  watchPage(cp, PROXY);
  await cp.goto(PROXY + '/');
  await cp.waitForSelector('#view-apps:not([hidden])');
  check((await cp.textContent('#who-name')) === 'carol (user)', 'the proxy names carol');
  check(await cp.isHidden('#sign-out'), 'no sign-out behind the proxy');
  check(await cp.isHidden('a[data-nav="admin"]'), 'no admin view for carol');
  check(await launchApp(cp, 'nginx') === 'ready', 'carol launches behind the proxy');
  await cp.click('#launch-cancel');
  await cp.click('a[data-nav="sessions"]');
  await cp.waitForSelector('#session-table tbody tr');
  check((await cp.$$('#session-table tbody tr')).length === 1, 'carol sees her session');
  await shot(cp, 'proxy-sessions.png');
  // Without the header the same server asks for a token.
  const nobody = await browser.newContext();
  const np = await nobody.newPage();
  watchPage(np, PROXY);
  await np.goto(PROXY + '/');
  await np.waitForSelector('#view-signin:not([hidden])');
  await shot(np, 'signin.png');
  await axe(np, 'sign in');
  await carolCtx.close();
  await nobody.close();

  // ---- Anonymous loopback mode (a third server, no tokens): "For user" is
  // required and explained.
  const ANON = process.env.ANON_URL;
  const anonCtx = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const xp = await anonCtx.newPage();
  watchPage(xp, ANON);
  await xp.goto(ANON + '/');
  await xp.waitForSelector('#view-apps:not([hidden])');
  await xp.click('[data-launch="nginx"]');
  await xp.waitForSelector('#launch-dialog[open]');
  check(await xp.isVisible('#launch-user'), 'For user asked in anonymous mode');
  const hint = await xp.textContent('#launch-user-hint');
  check(/no access tokens/.test(hint) && /Name the user/.test(hint), 'For user explained: ' + hint);
  check((await xp.getAttribute('#launch-user', 'aria-describedby')) === 'launch-user-hint', 'the hint describes the field');
  await xp.click('#launch-go');
  check((await xp.textContent('#launch-error')).includes('Name the user'), 'an empty user is refused in words');
  await shot(xp, 'anonymous-launch-phone.png');
  await axe(xp, 'anonymous launch dialog (phone)');
  await xp.fill('#launch-user', 'dora');
  await xp.click('#launch-go');
  await xp.waitForSelector('#open-app', { timeout: 60000 });
  check((await api(null, 'GET', '/v1/sessions?user=dora', null, ANON)).json.items.length === 1, 'launched for dora');
  await anonCtx.close();

  // ---- /docs on a phone: fits, renders code spans, one policy with the UI.
  const docsCtx = await browser.newContext({ viewport: { width: 390, height: 844 } });
  const docs = await docsCtx.newPage();
  watchPage(docs, BASE);
  const dres = await docs.goto(BASE + '/docs');
  check(/script-src 'self'/.test(dres.headers()['content-security-policy'] || ''), '/docs policy');
  await docs.waitForSelector('#ops details.op');
  check((await docs.$$('#ops details.op')).length >= 20, '/docs lists the operations');
  await docs.$$eval('#ops details.op', ds => ds.forEach(d => { d.open = true; }));
  const dfit = await docs.evaluate(() => ({
    scroll: document.scrollingElement.scrollWidth,
    code: document.querySelectorAll('#desc code, #ops p code, #ops td code').length,
    ticks: [...document.querySelectorAll('#desc, #ops p, #ops td, #ops summary')]
      .filter(e => e.textContent.includes('`')).map(e => e.textContent.slice(0, 80)).slice(0, 3),
  }));
  check(dfit.scroll <= 390, '/docs fits 390 px: ' + dfit.scroll);
  check(dfit.code > 10 && !dfit.ticks.length, '/docs renders code spans: ' + JSON.stringify(dfit));
  await shot(docs, 'docs-phone.png');
  await axe(docs, '/docs (phone)');
  await docsCtx.close();

  await bob.ctx.close();
  await alice.ctx.close();
  await phone.ctx.close();
  await admin.ctx.close();
} catch (e) {
  check(false, 'exception: ' + (e.stack || e));
} finally {
  await browser.close();
}
console.log('axe checked: ' + axeViews.join(', '));
if (failures.length) {
  console.log(`${failures.length} failure(s)`);
  process.exit(1);
}
console.log('ok: screenshots in ' + SHOTS);
