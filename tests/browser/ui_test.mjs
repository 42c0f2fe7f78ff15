// The web UI end to end in headless Chromium: a user launches an app from the
// catalogue and watches it reach running, opens its culling explanation, stops
// it; app icons show through blob: URLs; another user's sessions never show;
// an admin sees everyone's history, the charts, the registry and the
// simulated-cluster banner; behind a trusted proxy the user is named by a
// header and nobody signs in.  Every request the
// page makes must go to the tycho server itself.
import { createRequire } from 'module';
import path from 'path';

const require = createRequire(path.join(process.env.PW_DIR, 'x.js'));
const { chromium } = require('playwright-core');

const BASE = process.env.TYCHO_URL;
const SHOTS = process.env.SHOTS;
const failures = [];
function check(cond, what) {
  if (!cond) { console.log('FAIL: ' + what); failures.push(what); }
  return cond;
}

async function api(token, method, p, body) {
  const res = await fetch(BASE + p, {
    method, headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json().catch(() => null) };
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

async function signIn(token, viewport, setup) {
  const ctx = await browser.newContext({ viewport: viewport || { width: 1280, height: 900 } });
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

async function launchFirstApp(page, appId, shotName, progressSays) {
  await page.waitForSelector(`[data-launch="${appId}"]`);
  await page.click(`[data-launch="${appId}"]`);
  await page.waitForSelector('#launch-dialog[open]');
  if (shotName) await page.screenshot({ path: path.join(SHOTS, shotName) });
  await page.click('#launch-go');
  await page.waitForSelector('#launch-progress li.ready, #launch-progress li.failed', { timeout: 60000 });
  const ok = await page.$('#launch-progress li.ready');
  const said = await page.textContent('#launch-progress');
  check(ok, `${appId} reached ready: ` + said);
  if (progressSays) check(said.includes(progressSays), `progress says "${progressSays}": ` + said);
  const link = await page.$('#open-app');
  check(link && (await link.getAttribute('href')).includes('/private/'), 'open link points at the app');
  await page.click('#launch-cancel');
}

try {
  const apps = (await api(process.env.ALICE, 'GET', '/v1/apps')).json.items;
  check(apps.length >= 3, 'the bundled registry has apps');
  const appId = apps[0].id;

  // Bob launches something first; Alice must never see it.
  // Bob's browser gets no progress stream (as when every stream slot of the
  // server is in use: 503 + Retry-After): the UI follows the launch by polling.
  const bob = await signIn(process.env.BOB);
  await bob.page.route('**/v1/sessions/*/progress', route => route.fulfill({
    status: 503, contentType: 'application/json', headers: { 'Retry-After': '2' },
    body: JSON.stringify({ error: { code: 'limit', message: 'all stream slots are in use' } }),
  }));
  await launchFirstApp(bob.page, appId, null, 'polling');
  const bobSessions = (await api(process.env.BOB, 'GET', '/v1/sessions')).json.items.map(s => s.id);
  check(bobSessions.length === 1, 'bob has one session');

  // Alice: catalogue, launch with progress, my sessions, culling, stop.
  const alice = await signIn(process.env.ALICE);
  const { page } = alice;
  check(await page.isVisible('#sim-banner'), 'simulated-cluster banner');
  check((await page.$$('#app-list article')).length === apps.length, 'catalogue lists the apps');
  // Icons: fetched with the token and shown through object URLs (blob:), not
  // through the registry's own location; the picture is decorative.
  check(apps.every(a => a.icon_url === '/v1/apps/' + a.id + '/icon'), 'apps carry icon_url');
  await page.waitForSelector('#app-list article .avatar img[src^="blob:"]');
  // Every bundled app has an icon.png: all cards get one, and each decodes.
  await page.waitForFunction(n => {
    const imgs = [...document.querySelectorAll('#app-list article .avatar img')];
    return imgs.length === n && imgs.every(i => i.complete && i.naturalWidth > 0);
  }, apps.length, { timeout: 10000 }).catch(() => {});
  const icons = await page.$$eval('#app-list article .avatar img', imgs => imgs.map(i =>
    ({ src: i.src, alt: i.alt, w: i.naturalWidth,
       hidden: i.closest('[aria-hidden="true"]') !== null })));
  check(icons.length === apps.length && icons.every(i => i.src.startsWith('blob:' + BASE + '/')),
    'catalogue icons are blob: URLs: ' + JSON.stringify(icons));
  check(icons.every(i => i.w === 64), 'icons decode (64 px wide): ' + JSON.stringify(icons));
  check(icons.every(i => i.alt === '' && i.hidden), 'icons are decorative (alt="", aria-hidden)');
  await page.screenshot({ path: path.join(SHOTS, 'catalogue.png'), fullPage: true });
  await page.fill('#app-search', apps[1].name);
  check((await page.$$('#app-list article')).length >= 1, 'search keeps the match');
  await page.fill('#app-search', '');
  await launchFirstApp(page, appId, 'launch-dialog.png');
  await page.screenshot({ path: path.join(SHOTS, 'launch-ready.png') });

  await page.click('a[data-nav="sessions"]');
  await page.waitForSelector('#session-table tbody tr');
  const rows = await page.$$eval('#session-table tbody tr', trs => trs.map(t => t.dataset.session));
  check(rows.length === 1, 'alice sees exactly her one session: ' + rows);
  check(!rows.some(id => bobSessions.includes(id)), "alice never sees bob's session");
  check((await page.textContent('#session-table tbody')).includes('running'), 'her session is running');
  // The culler warns idle sessions (the test server warns at once): the list says so.
  for (let i = 0; i < 40 && !(await page.$('[data-warned]')); i++) {
    await page.waitForTimeout(250);
    await Promise.all([page.waitForResponse(r => r.url().includes('/v1/sessions?')),
      page.click('#sessions-refresh')]);
    await page.waitForSelector('#session-table tbody tr');
  }
  check(await page.$(`[data-warned="${rows[0]}"]`), 'the culling notice is shown: ' +
    JSON.stringify((await api(process.env.ALICE, 'GET', '/v1/sessions/' + rows[0])).json));
  await page.screenshot({ path: path.join(SHOTS, 'my-sessions.png') });
  await page.getByRole('button', { name: 'Culling', exact: true }).click();
  await page.waitForFunction(() => document.querySelector('#idle-text').textContent.length > 20);
  check((await page.textContent('#idle-detail')).includes('Last active'), 'culling explanation');
  await page.screenshot({ path: path.join(SHOTS, 'culling.png') });
  await page.click('#idle-dialog button[type=submit]');
  page.once('dialog', d => d.accept());
  await page.click('#session-table button.danger');
  const sid = rows[0];
  let state = '';
  for (let i = 0; i < 100 && state !== 'stopped'; i++) {
    state = (await api(process.env.ALICE, 'GET', '/v1/sessions/' + sid)).json.state;
    if (state !== 'stopped') await new Promise(r => setTimeout(r, 200));
  }
  check(state === 'stopped', 'stop from the UI: ' + state);
  await page.selectOption('#session-state', '');
  await page.waitForFunction(() => document.querySelector('#session-table tbody').textContent.includes('stopped'));
  // Admin links are hidden from users, and the admin view refuses them.
  check(!(await page.isVisible('a[data-nav="admin"]')), 'no admin link for a user');

  // A phone-sized screen still works.  There, one icon is missing (404) and
  // another is not an image the browser can decode: both cards keep the letter.
  const [noIcon, badIcon, goodIcon] = apps;
  const phone = await signIn(process.env.ALICE, { width: 390, height: 800 }, async p => {
    await p.route(`**/v1/apps/${noIcon.id}/icon`, route => route.fulfill({
      status: 404, contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'not_found', message: `app ${noIcon.id} has no icon` } }),
    }));
    await p.route(`**/v1/apps/${badIcon.id}/icon`, route => route.fulfill({
      status: 200, contentType: 'image/png', body: 'not a png' }));
  });
  const avatar = id => `#app-list article[aria-labelledby="app-${id}"] .avatar`;
  await phone.page.waitForSelector(avatar(goodIcon.id) + ' img[src^="blob:"]');
  await phone.page.waitForFunction(sel => {
    const a = document.querySelector(sel);
    return a && !a.querySelector('img') && a.textContent.length === 1;
  }, avatar(badIcon.id), { timeout: 5000 }).catch(() => {});
  for (const a of [noIcon, badIcon]) {
    const got = await phone.page.$eval(avatar(a.id), e => ({ img: !!e.querySelector('img'), text: e.textContent }));
    check(!got.img && got.text === (a.name || a.id).slice(0, 1).toUpperCase(),
      `letter avatar when ${a.id}'s icon fails: ` + JSON.stringify(got));
  }
  await phone.page.screenshot({ path: path.join(SHOTS, 'catalogue-phone.png'), fullPage: true });
  await phone.ctx.close();

  // Admin: history of everyone, filters, charts, registry, banner.
  const admin = await signIn(process.env.ADMIN);
  const ap = admin.page;
  await ap.click('a[data-nav="admin"]');
  await ap.waitForSelector('#history-table tbody tr');
  const users = await ap.$$eval('#history-table tbody tr td:nth-child(2)', tds => tds.map(t => t.textContent));
  check(users.includes('alice') && users.includes('bob'), 'admin history shows both users: ' + users);
  check((await ap.$$('#chart-days svg rect')).length >= 1, 'sessions-per-day chart');
  check((await ap.$$('#chart-apps svg rect')).length >= 1, 'top-apps chart');
  check((await ap.$$('#chart-users svg rect')).length >= 2, 'top-users chart');
  check((await ap.$$('#chart-concurrent svg path')).length >= 2, 'concurrency chart');
  check((await ap.textContent('#registry-info')).includes('Source'), 'registry status');
  await ap.screenshot({ path: path.join(SHOTS, 'admin.png'), fullPage: true });
  await ap.fill('#history-form input[name=user]', 'alice');
  await ap.click('#history-form button[type=submit]');
  await ap.waitForFunction(() => [...document.querySelectorAll('#history-table tbody tr td:nth-child(2)')]
    .every(t => t.textContent === 'alice'));
  check((await ap.textContent('#history-total')).startsWith('1 '), 'filtered history total');
  await ap.click('#registry-reload');
  await ap.waitForFunction(() => /Reloaded|failed/.test(document.querySelector('#registry-msg').textContent));
  check((await ap.textContent('#registry-msg')).startsWith('Reloaded'), 'registry reload');
  await ap.screenshot({ path: path.join(SHOTS, 'admin-filtered.png'), fullPage: true });
  // Keyboard: the skip link is the first tab stop of a fresh page.
  await ap.reload();
  await ap.waitForSelector('#view-admin:not([hidden])');
  await ap.keyboard.press('Tab');
  check(await ap.evaluate(() => document.activeElement.classList.contains('skip')), 'skip link first');

  // Trusted-proxy mode (a second server): the proxy names the user in
  // X-Remote-User, so nobody signs in and there is nothing to sign out of.
  const PROXY = process.env.PROXY_URL;
  const carol = await browser.newContext({ extraHTTPHeaders: { 'X-Remote-User': 'carol' } });
  const cp = await carol.newPage();
  watchPage(cp, PROXY);
  await cp.goto(PROXY + '/');
  await cp.waitForSelector('#view-apps:not([hidden])');
  check((await cp.textContent('#who-name')) === 'carol (user)', 'the proxy names carol');
  check(await cp.isHidden('#sign-out'), 'no sign-out behind the proxy');
  check(await cp.isHidden('a[data-nav="admin"]'), 'no admin view for carol');
  await launchFirstApp(cp, appId);
  await cp.click('a[data-nav="sessions"]');
  await cp.waitForSelector('#session-table tbody tr');
  check((await cp.$$('#session-table tbody tr')).length === 1, "carol sees her session");
  await cp.screenshot({ path: path.join(SHOTS, 'proxy-sessions.png') });
  // Without the header the same server asks for a token.
  const nobody = await browser.newContext();
  const np = await nobody.newPage();
  watchPage(np, PROXY);
  await np.goto(PROXY + '/');
  await np.waitForSelector('#view-signin:not([hidden])');
  await carol.close();
  await nobody.close();

  // The API reference renders under its own policy (inline code allowed by hash only).
  const docs = await admin.ctx.newPage();
  watchPolicy(docs);
  const dres = await docs.goto(BASE + '/docs');
  check(/script-src 'sha256-/.test(dres.headers()['content-security-policy'] || ''), '/docs policy');
  await docs.waitForSelector('#ops details.op');
  check((await docs.$$('#ops details.op')).length >= 20, '/docs lists the operations');

  await bob.ctx.close();
  await alice.ctx.close();
  await admin.ctx.close();
} catch (e) {
  check(false, 'exception: ' + (e.stack || e));
} finally {
  await browser.close();
}
if (failures.length) {
  console.log(`${failures.length} failure(s)`);
  process.exit(1);
}
console.log('ok: screenshots in ' + SHOTS);
