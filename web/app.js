/*
 * Tycho web UI: catalogue, launch with live progress, my sessions, admin history
 * and charts.  Plain browser JavaScript, served by tycho itself; it makes no
 * request outside the server it came from.
 */
'use strict';

const state = {
  token: localStorage.getItem('tycho.token') || '',
  me: null,          // {username, role, proxy, anonymous}
  apps: [],
  historyCursor: null,
  historyCursors: [],
  charts: null,      // the admin charts' data, kept to redraw on resize
};

const $ = (sel, root = document) => root.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

const SVG = 'http://www.w3.org/2000/svg';
function svgEl(tag, attrs = {}, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/* ---- API ---------------------------------------------------------------- */

class ApiError extends Error {
  constructor(status, code, message, detail) {
    super(message);
    this.status = status; this.code = code; this.detail = detail || {};
  }
}

function authHeaders(accept) {
  const h = { 'Accept': accept };
  if (state.token) h['Authorization'] = 'Bearer ' + state.token;
  return h;
}

async function api(path, opts = {}) {
  const headers = Object.assign(authHeaders('application/json'), opts.headers || {});
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  /* A header no page of another site can send without asking first: the
   * server's cross-site check for requests that change state. */
  if (opts.method && opts.method !== 'GET') headers['X-Requested-With'] = 'tycho';
  const res = await fetch(path, {
    method: opts.method || 'GET', headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || 'error', err.message || res.statusText, err);
  }
  return data;
}

/* App icons come from /v1/apps/{id}/icon, which needs the token, so an
 * <img src> cannot name it: each is fetched once with the token and kept as an
 * object URL for the page's life (per app id; cleared on sign-out).  The
 * promise resolves to null on any error, and the card keeps its letter. */
const iconCache = new Map();

function appIcon(a) {
  if (!a.icon_url) return Promise.resolve(null);
  let p = iconCache.get(a.id);
  if (!p) {
    p = fetch(a.icon_url, { headers: authHeaders('image/png, image/jpeg, image/gif, image/webp') })
      .then(res => (res.ok ? res.blob() : null))
      .then(b => (b && /^image\/(png|jpeg|gif|webp)$/.test(b.type) ? URL.createObjectURL(b) : null))
      .catch(() => null);
    iconCache.set(a.id, p);
  }
  return p;
}

function iconCacheClear() {
  for (const p of iconCache.values()) p.then(u => { if (u) URL.revokeObjectURL(u); });
  iconCache.clear();
}

/* Server-Sent Events over fetch, so the Authorization header can be sent. */
async function streamEvents(path, onEvent, signal) {
  const res = await fetch(path, { headers: authHeaders('text/event-stream'), signal });
  if (!res.ok || !res.body) throw new ApiError(res.status, 'error', 'progress stream unavailable (HTTP ' + res.status + ')');
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let idx;
    while ((idx = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, idx);
      buf = buf.slice(idx + 2);
      let type = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (line.startsWith('event:')) type = line.slice(6).trim();
        else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
      }
      if (!data.length) continue;
      let payload = data.join('\n');
      try { payload = JSON.parse(payload); } catch (_) { /* plain text */ }
      if (onEvent(type, payload) === false) {
        reader.cancel().catch(() => {});
        return;
      }
    }
  }
}

const sleep = (ms, signal) => new Promise(resolve => {
  const t = setTimeout(resolve, ms);
  if (signal) signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
});

/* ---- formatting ---------------------------------------------------------- */

function ago(iso) {
  if (!iso) return '';
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return Math.round(s) + 's';
  if (s < 3600) return Math.round(s / 60) + 'm';
  if (s < 86400) return (s / 3600).toFixed(1).replace(/\.0$/, '') + 'h';
  return (s / 86400).toFixed(1).replace(/\.0$/, '') + 'd';
}

function fmtTime(iso) {
  if (!iso) return '';
  return new Date(iso).toISOString().replace('T', ' ').slice(0, 16);
}

function colorFor(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
  return `hsl(${h} 55% 38%)`;
}

function stateBadge(s) { return el('span', { class: 'state ' + s }, s); }

/* Memory.  A registry writes Kubernetes quantities ("4000M", "4Gi"); the UI
 * shows the same number of bytes in words ("4 GB", "4 GiB") and sends back
 * either the registry's own text or a quantity of the same family, so what the
 * card says, what the dialog offers and what the Deployment gets are one
 * amount.  Decimal suffixes are powers of 1000, binary ones of 1024. */
const QUANTITY_SUFFIX = {
  '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50,
};

/* Bytes of a quantity (string or number), or NaN. */
function quantityBytes(q) {
  if (typeof q === 'number') return q;
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)([kKMGTP]i?)?\s*$/.exec(String(q || ''));
  if (!m) return NaN;
  const f = QUANTITY_SUFFIX[m[2] || ''];
  return f === undefined ? NaN : Math.round(parseFloat(m[1]) * f);
}

function isBinaryQuantity(q) { return /i\s*$/.test(String(q || '')); }

const MEMORY_WORDS = [
  [1e12, 'TB', 2 ** 40, 'TiB'], [1e9, 'GB', 2 ** 30, 'GiB'],
  [1e6, 'MB', 2 ** 20, 'MiB'], [1e3, 'kB', 2 ** 10, 'KiB'],
];

/* "4 GB" for 4000M, "4 GiB" for 4Gi, "1.5 GB" for 1500M: exact when a unit
 * divides the amount (a decimal one first), else one decimal of GiB/MiB. */
function memText(bytes) {
  if (!(bytes > 0)) return '';
  for (const [d, dn, b, bn] of MEMORY_WORDS) {
    if (bytes >= d && bytes % d === 0) return (bytes / d) + ' ' + dn;
    if (bytes >= b && bytes % b === 0) return (bytes / b) + ' ' + bn;
    if (bytes >= d && (bytes * 10) % d === 0) return (bytes / d) + ' ' + dn;
  }
  if (bytes >= 2 ** 30) return (bytes / 2 ** 30).toFixed(1) + ' GiB';
  if (bytes >= 2 ** 20) return (bytes / 2 ** 20).toFixed(1) + ' MiB';
  return bytes + ' bytes';
}

/* The memory choices between an app's reservation and its limit: the two
 * registry values themselves, and round amounts of the limit's family
 * (decimal 250 MB, 500 MB, 1 GB, 2 GB...; binary 256 MiB, 512 MiB, 1 GiB...)
 * in between.  Returns [{value (quantity text sent), bytes, label}] ascending. */
function memoryChoices(minQ, maxQ) {
  const maxB = quantityBytes(maxQ);
  if (!(maxB > 0)) return [];
  let minB = quantityBytes(minQ);
  if (!(minB > 0) || minB > maxB) minB = Math.min(maxB, 256 * 2 ** 20);
  const out = new Map();
  const add = (value, bytes) => { if (!out.has(bytes)) out.set(bytes, { value, bytes, label: memText(bytes) }); };
  if (minQ && quantityBytes(minQ) === minB) add(String(minQ), minB);
  const bin = isBinaryQuantity(maxQ);
  const G = bin ? 2 ** 30 : 1e9, M = bin ? 2 ** 20 : 1e6;
  const steps = bin ? [256, 512].map(n => n * M) : [250, 500].map(n => n * M);
  for (let g = G; g < maxB; g *= 2) steps.push(g);
  for (const b of steps) {
    if (b > minB && b < maxB) add(b >= G ? (b / G) + (bin ? 'Gi' : 'G') : (b / M) + (bin ? 'Mi' : 'M'), b);
  }
  add(String(maxQ), maxB);
  return [...out.values()].sort((a, b) => a.bytes - b.bytes);
}

/* A size to read, not to send back: "249 MB", "1.2 GB". */
function sizeText(bytes) {
  if (bytes >= 1e9) return (bytes / 1e9).toFixed(1) + ' GB';
  if (bytes >= 1e6) return Math.round(bytes / 1e6) + ' MB';
  return Math.max(1, Math.round(bytes / 1e3)) + ' kB';
}

/* "2 CPU · 4 GB" from session resources {cpu, memory_bytes, gpus} or app
 * limits {cpus, memory, gpus}. */
function resourcesText(r) {
  if (!r) return '';
  const parts = [];
  const cpu = r.cpu !== undefined ? r.cpu : r.cpus;
  if (cpu) parts.push(cpu + ' CPU');
  const mem = r.memory_bytes || (r.memory ? quantityBytes(r.memory) : 0);
  if (mem > 0) parts.push(memText(mem));
  if (r.gpus) parts.push(r.gpus + ' GPU');
  return parts.join(' · ');
}

/* ---- views --------------------------------------------------------------- */

const views = ['signin', 'apps', 'sessions', 'admin'];

function show(name) {
  for (const v of views) $('#view-' + v).hidden = v !== name;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = 'Tycho · ' + ({ signin: 'Sign in', apps: 'Apps', sessions: 'Sessions', admin: 'Admin' })[name];
}

/* A dialog belongs to the view it was opened from: a route change closes it
 * (its launch goes on on the server, and My sessions shows it). */
function closeDialogs() {
  for (const d of document.querySelectorAll('dialog[open]')) d.close();
}

async function route() {
  closeDialogs();
  if (!state.me) {
    const ok = await whoami();
    if (!ok) { show('signin'); $('#token-input').focus(); return; }
  }
  const name = (location.hash.replace(/^#\//, '') || 'apps').split('?')[0];
  if (name === 'admin' && state.me.role !== 'admin') { location.hash = '#/apps'; return; }
  if (!views.includes(name) || name === 'signin') { location.hash = '#/apps'; return; }
  show(name);
  const view = $('#view-' + name);
  for (const e of view.querySelectorAll('.view-error')) e.remove();
  try {
    if (name === 'apps') await loadApps();
    else if (name === 'sessions') await loadSessions();
    else if (name === 'admin') await loadAdmin();
  } catch (e) {
    if (e.status === 401) { signOut(); return; }
    view.append(el('p', { class: 'error view-error', role: 'alert' }, e.message));
  }
}

/* Tokens bound to a user launch for that user; admin and platform tokens, and
 * the anonymous loopback mode, name the user in the dialog. */
const seesEveryone = () => state.me && !state.me.username;

async function whoami() {
  try {
    state.me = await api('/v1/whoami');
  } catch (e) {
    state.me = null;
    return false;
  }
  const me = state.me;
  $('#who-name').textContent = me.anonymous ? 'Local access, no sign-in'
    : me.username ? `${me.username} (${me.role})` : me.role;
  $('#sign-out').hidden = !!me.proxy || !state.token;
  for (const li of document.querySelectorAll('[data-admin]')) li.hidden = me.role !== 'admin';
  $('#nav-sessions').textContent = seesEveryone() ? 'Sessions' : 'My sessions';
  return true;
}

function signOut() {
  state.token = '';
  state.me = null;
  iconCacheClear();
  localStorage.removeItem('tycho.token');
  closeDialogs();
  $('#who-name').textContent = '';
  $('#sign-out').hidden = true;
  show('signin');
}

/* ---- catalogue ----------------------------------------------------------- */

async function loadApps() {
  const data = await api('/v1/apps');
  state.apps = (data && data.items) || [];
  renderApps();
}

function renderApps() {
  const q = $('#app-search').value.trim().toLowerCase();
  const list = $('#app-list');
  list.replaceChildren();
  const apps = state.apps.filter(a => !q || (a.name + ' ' + a.id + ' ' + (a.description || '')).toLowerCase().includes(q));
  if (!apps.length) list.append(el('li', { class: 'muted' }, q ? 'No app matches.' : 'No apps are available to you.'));
  for (const a of apps) {
    /* A letter avatar, replaced by the app's icon once (and if) it loads.  The
     * heading names the app, so the picture is decorative (aria-hidden). */
    const letter = (a.name || a.id).slice(0, 1).toUpperCase();
    const avatar = el('div', { class: 'avatar', 'aria-hidden': 'true' }, letter);
    avatar.style.background = colorFor(a.id); /* CSSOM: allowed by the page's style-src 'self' */
    appIcon(a).then(url => {
      if (!url) return;
      const img = el('img', { src: url, alt: '', width: 44, height: 44 });
      img.addEventListener('error', () => {
        avatar.style.background = colorFor(a.id);
        avatar.replaceChildren(letter);
      });
      avatar.style.background = 'none';
      avatar.replaceChildren(img);
    });
    const max = (a.resources && a.resources.max) || {};
    const limits = resourcesText(max);
    list.append(el('li', {},
      el('article', { class: 'card app', 'aria-labelledby': 'app-' + a.id },
        el('header', {},
          avatar,
          el('h2', { id: 'app-' + a.id }, a.name || a.id)),
        el('p', {}, a.description || ''),
        el('div', { class: 'meta', 'data-limits': a.id }, limits ? 'Up to ' + limits : ''),
        el('div', { class: 'actions' },
          a.docs ? el('a', { href: a.docs, target: '_blank', rel: 'noopener noreferrer' },
            'Docs', el('span', { class: 'sr-only' }, ' for ' + (a.name || a.id))) : null,
          el('button', { type: 'button', class: 'primary', 'data-launch': a.id,
            onclick: () => openLaunch(a) }, 'Launch', el('span', { class: 'sr-only' }, ' ' + (a.name || a.id)))))));
  }
}

/* ---- launch -------------------------------------------------------------- */

/* The steps a researcher sees, in order.  Kubernetes reports them as pod
 * Events (Scheduled, Pulling, Pulled, Created/Started) and the session as
 * states; either moves the bar, never backwards, and each step is one line
 * whose text is updated in place. */
const STEPS = [
  { key: 'scheduled', label: 'Scheduled', pct: 25 },
  { key: 'pulling', label: 'Pulling image', pct: 60 },
  { key: 'starting', label: 'Starting', pct: 85 },
  { key: 'ready', label: 'Ready', pct: 100 },
];

/* Plain words, and the one next step, for the reasons a launch fails. */
function explainFailure(reason) {
  const r = reason || '';
  if (/Unschedulable|FailedScheduling|Insufficient/i.test(r))
    return { text: 'The cluster has no room for the CPU or memory you asked for.', retry: 'Launch again with less' };
  if (/ImagePull|ErrImage|InvalidImageName/i.test(r))
    return { text: 'The app’s image could not be downloaded. Tell your platform’s administrators; launching again will not help.', retry: null };
  if (/CrashLoop|BackOff|Error/i.test(r))
    return { text: 'The app started but stopped again.', retry: 'Launch again' };
  if (/Timeout/i.test(r))
    return { text: 'The app did not become ready in time.', retry: 'Launch again' };
  return { text: 'The app could not start.', retry: 'Launch again' };
}

const launch = {
  app: null,        // the app being launched
  body: null,       // the last request body
  session: null,    // the session being followed
  abort: null,      // AbortController of the progress stream
  reached: -1,      // index of the last step done
  stateMessages: new Set(),
};

function launchReset() {
  if (launch.abort) launch.abort.abort();
  launch.abort = null;
  launch.session = null;
  launch.reached = -1;
  launch.stateMessages = new Set();
  $('#launch-progress').hidden = true;
  $('#launch-problem').hidden = true;
  $('#launch-problem').replaceChildren();
  $('#launch-next').replaceChildren();
  $('#launch-error').textContent = '';
  const steps = $('#launch-steps');
  steps.replaceChildren(...STEPS.map(s => el('li', { 'data-step': s.key, class: 'todo' },
    el('span', { class: 'mark', 'aria-hidden': 'true' }),
    el('span', { class: 'text' },
      el('span', { class: 'label' }, s.label),
      el('span', { class: 'detail' }),
      el('span', { class: 'sr-only status' }, ' (to do)')))));
  $('#launch-bar').classList.remove('failed');
  setBar(0);
}

function setBar(pct) {
  const bar = $('#launch-bar');
  bar.setAttribute('aria-valuenow', String(pct));
  $('#launch-bar span').style.width = pct + '%';
}

function stepLi(key) { return $(`#launch-steps li[data-step="${key}"]`); }

function stepDetail(key, text) {
  const li = stepLi(key);
  if (li) $('.detail', li).textContent = text ? ' ' + text : '';
}

/* Marks steps up to index i done and the next one active. */
function reach(i) {
  if (i <= launch.reached) return;
  launch.reached = i;
  STEPS.forEach((s, j) => {
    const li = stepLi(s.key);
    const cls = j <= i ? 'done' : j === i + 1 ? 'active' : 'todo';
    if (li.classList.contains('failed')) return;
    li.className = cls;
    $('.status', li).textContent = cls === 'done' ? ' (done)' : cls === 'active' ? ' (in progress)' : ' (to do)';
  });
  setBar(STEPS[i].pct);
  const next = STEPS[i + 1];
  $('#launch-status').textContent = next ? next.label + '…' : 'Ready.';
}

function failStep() {
  const i = Math.min(launch.reached + 1, STEPS.length - 1);
  const li = stepLi(STEPS[i].key);
  li.className = 'failed';
  $('.status', li).textContent = ' (failed)';
  $('#launch-bar').classList.add('failed');
}

/* The Kubernetes reason, shown only when something is wrong: one line, the
 * latest reason, replaced in place (a kubelet repeats and alternates its
 * reasons while it retries); on failure, plain words above it. */
function showProblem(reason, message, plain) {
  const box = $('#launch-problem');
  const line = el('p', { class: 'kube' }, 'Kubernetes says: ', el('strong', {}, reason || 'Problem'),
    message ? ': ' + message : '');
  box.replaceChildren(...(plain ? [el('p', { class: 'plain' }, plain)] : []), line);
  box.hidden = false;
}

/* Image name without the registry host, and its size when Kubernetes said it
 * ("Successfully pulled image "x" in 1.2s ... Image size: 123 bytes."). */
function imageName(msg) {
  const m = /image "([^"]+)"/.exec(msg || '');
  return m ? m[1].replace(/^[^/]+\.[^/]+\//, '') : '';
}
function imageSize(msg) {
  const m = /Image size: ([0-9]+) bytes/.exec(msg || '');
  return m ? sizeText(parseInt(m[1], 10)) : '';
}

function onKubeEvent(ev) {
  const reason = ev.reason || '';
  if (ev.type === 'Warning') { showProblem(reason, ev.message); return; }
  if (reason === 'Scheduled') reach(0);
  else if (reason === 'Pulling') { reach(0); stepDetail('pulling', imageName(ev.message)); }
  else if (reason === 'Pulled') {
    const size = imageSize(ev.message);
    stepDetail('pulling', [imageName(ev.message), size && '(' + size + ')'].filter(Boolean).join(' '));
    reach(1);
  } else if (reason === 'Created' || reason === 'Started') reach(1);
}

function onSessionState(to, message) {
  if (message) launch.stateMessages.add(message);
  if (to === 'running') reach(3);
}

function openLaunch(app) {
  const dlg = $('#launch-dialog');
  launch.app = app;
  const res = app.resources || {};
  const min = res.min || {}, max = res.max || {};
  $('#launch-title').textContent = 'Launch ' + (app.name || app.id);
  const cpu = $('#launch-cpu');
  const cpuMin = parseFloat(min.cpus) || 0.25, cpuMax = parseFloat(max.cpus) || 8;
  cpu.min = Math.min(cpuMin, cpuMax); cpu.max = cpuMax; cpu.value = cpuMax;
  cpu.dataset.default = String(cpuMax);
  $('#launch-cpu-hint').textContent = `${Math.min(cpuMin, cpuMax)} to ${cpuMax} cores`;
  const mem = $('#launch-memory');
  const choices = memoryChoices(min.memory, max.memory);
  mem.replaceChildren(...choices.map(m => el('option', { value: m.value, 'data-bytes': m.bytes }, m.label)));
  mem.disabled = !choices.length;
  if (choices.length) mem.value = choices[choices.length - 1].value;
  mem.dataset.default = mem.value;
  const gpu = $('#launch-gpu');
  gpu.max = max.gpus || 0; gpu.value = 0;
  $('#launch-gpu-row').hidden = !max.gpus;
  /* Admin and platform tokens are bound to no user, and the anonymous
   * loopback mode knows nobody: they launch for a user they name. */
  const forUser = !state.me.username;
  $('#launch-user-row').hidden = !forUser;
  $('#launch-user').required = forUser;
  $('#launch-user-hint').textContent = state.me.anonymous
    ? 'This server has no access tokens yet, so it trusts anyone on this computer and does not know who you are. Name the user the app is for: it runs under that name, as if they had launched it.'
    : 'Your token is not bound to a user. Name the user the app is for.';
  $('#launch-choices').hidden = false;
  launchReset();
  $('#launch-go').hidden = false;
  $('#launch-go').disabled = false;
  $('#launch-go').textContent = 'Launch';
  dlg.removeAttribute('aria-busy');
  dlg.showModal();
  (forUser ? $('#launch-user') : cpu).focus();
}

/* The request body from the dialog, or null (the error shown).  Values left
 * at the app's default are not sent, so a launch from the UI gets exactly
 * what the registry says, as one from `tycho launch` does. */
function launchBody() {
  const cpuIn = $('#launch-cpu');
  const cpu = parseFloat(cpuIn.value);
  const cpuMax = parseFloat(cpuIn.max), cpuMin = parseFloat(cpuIn.min);
  if (!(cpu >= cpuMin && cpu <= cpuMax)) {
    $('#launch-error').textContent = `CPU must be between ${cpuMin} and ${cpuMax} cores.`;
    cpuIn.focus();
    return null;
  }
  const body = { app: launch.app.id };
  if (String(cpu) !== cpuIn.dataset.default) body.cpu = cpu;
  const mem = $('#launch-memory').value;
  if (mem && mem !== $('#launch-memory').dataset.default) body.memory = mem;
  if (!state.me.username) {
    const who = $('#launch-user').value.trim();
    if (!who) {
      $('#launch-error').textContent = 'Name the user the app is for.';
      $('#launch-user').focus();
      return null;
    }
    body.username = who;
  }
  const gpu = parseInt($('#launch-gpu').value, 10);
  if (gpu > 0) body.gpu = gpu;
  return body;
}

function setLaunching(on) {
  const go = $('#launch-go');
  go.disabled = on;
  go.textContent = on ? 'Launching…' : 'Launch';
  $('#launch-dialog').toggleAttribute('aria-busy', on);
}

async function startLaunch(ev) {
  if (ev) ev.preventDefault();
  if ($('#launch-go').disabled) return;
  const body = launchBody();
  if (!body) return;
  launch.body = body;
  setLaunching(true);
  launchReset();
  $('#launch-choices').hidden = true;
  let session;
  try {
    session = await api('/v1/sessions', { method: 'POST', body });
  } catch (e) {
    setLaunching(false);
    if (e.status === 429) { offerRunning(e, body); return; }
    $('#launch-choices').hidden = false;
    $('#launch-error').textContent = e.message;
    return;
  }
  await follow(session);
}

/* Follows a session to ready or failed: the progress stream, or polling when
 * the server has no stream slot free. */
async function follow(session) {
  launch.session = session;
  $('#launch-go').hidden = true;
  $('#launch-choices').hidden = true;
  $('#launch-progress').hidden = false;
  $('#launch-status').textContent = 'Requested…';
  setBar(8);
  launch.abort = new AbortController();
  const signal = launch.abort.signal;
  let end = null;
  try {
    await streamEvents(`/v1/sessions/${session.id}/progress`, (type, d) => {
      if (type === 'state') onSessionState(d.to, d.message);
      else if (type === 'kubernetes') onKubeEvent(d);
      else if (type === 'message') {
        /* A session message that no state change carried says why a launch is
         * slow ("ImagePullBackOff: ..."): a problem worth showing. */
        if (d.message && !launch.stateMessages.has(d.message) && d.state === 'pending') {
          const m = /^([A-Za-z]+): (.*)$/s.exec(d.message);
          showProblem(m ? m[1] : 'Waiting', m ? m[2] : d.message);
        }
      } else if (type === 'ready') { end = { state: 'running', url: d.url }; return false; }
      else if (type === 'failed') { end = { state: d.state, reason: d.reason, message: d.message }; return false; }
      return true;
    }, signal);
  } catch (e) {
    if (e.name === 'AbortError') return;
    /* The server keeps a bounded number of streams (503 when all are in use):
       follow the launch by polling the session instead. */
    $('#launch-mode').textContent = 'Following the launch by polling: the server is busy.';
  }
  if (!end && !signal.aborted) end = await pollLaunch(session.id, signal);
  if (!end || signal.aborted) return;
  setLaunching(false);
  if (end.state === 'running') finishReady(end.url || session.url);
  else finishFailed(end.reason || end.state, end.message);
}

function appTitle() { return launch.app ? (launch.app.name || launch.app.id) : 'the app'; }

function finishReady(url) {
  reach(3);
  $('#launch-status').textContent = appTitle() + ' is ready.';
  $('#launch-next').replaceChildren(
    el('a', { href: url, target: '_blank', rel: 'noopener', id: 'open-app', class: 'button primary' },
      'Open ' + appTitle()));
  $('#open-app').focus();
}

function finishFailed(reason, message) {
  /* The stream's message repeats the session's state; keep Kubernetes' words. */
  const msg = (message || '').replace(/^the session is \w+: ?/, '');
  failStep();
  const x = explainFailure(reason);
  showProblem(reason, msg, x.text);
  $('#launch-status').textContent = 'The launch failed: ' + x.text;
  const next = $('#launch-next');
  if (x.retry) {
    next.replaceChildren(el('button', { type: 'button', class: 'primary', id: 'launch-retry',
      onclick: () => { launchReset(); $('#launch-choices').hidden = false; $('#launch-go').hidden = false; $('#launch-cpu').focus(); } },
    x.retry));
  } else {
    next.replaceChildren(el('button', { type: 'button', class: 'primary', id: 'launch-copy',
      onclick: ev => copyProblem(ev.currentTarget) }, 'Copy the details for your administrators'));
  }
}

/* Copies what went wrong (app, session, reason) for a message to the
 * platform's administrators; where the clipboard is not offered (plain http
 * to another host), selects the text to copy by hand. */
async function copyProblem(btn) {
  const s = launch.session || {};
  const text = `${appTitle()} (session ${s.id || '?'}) did not start. ` + $('#launch-problem .kube').textContent;
  try {
    await navigator.clipboard.writeText(text);
    btn.textContent = 'Copied';
  } catch (_) {
    const sel = getSelection();
    sel.selectAllChildren($('#launch-problem'));
    btn.textContent = 'Selected: copy it with Ctrl+C';
  }
}

/* Polls a session every 2 s until it runs or ends.  Returns
   {state, url, reason, message}, or null when aborted or unreadable. */
async function pollLaunch(id, signal) {
  while (!signal.aborted) {
    let s;
    try {
      s = await api(`/v1/sessions/${id}`);
    } catch (e) {
      showProblem('Unreadable', e.message);
      return null;
    }
    if (s.state === 'pending') reach(0);
    if (s.state === 'running') return { state: 'running', url: s.url };
    if (['stopping', 'stopped', 'failed', 'lost'].includes(s.state))
      return { state: s.state, reason: s.reason || s.state, message: s.message };
    if (s.state === 'pending' && s.message && /^[A-Za-z]+: /.test(s.message)) {
      const m = /^([A-Za-z]+): (.*)$/s.exec(s.message);
      showProblem(m[1], m[2]);
    }
    await sleep(2000, signal);
  }
  return null;
}

/* A launch refused because a limit of the user's own is full: the sessions
 * holding it are offered instead (open one, or stop it and launch again), as
 * JupyterHub sends a user to the server they already have. */
function offerRunning(e, body) {
  const holders = (e.detail && e.detail.sessions) || [];
  const box = $('#launch-next');
  const who = body.username && body.username !== (state.me && state.me.username) ? body.username + ' already has' : 'You already have';
  if (!holders.length) {
    box.replaceChildren(el('p', { class: 'offer', role: 'alert' },
      e.detail && e.detail.limit === 'global'
        ? 'The platform runs as many sessions as it may. Try again later.'
        : e.message));
    $('#launch-go').hidden = true;
    return;
  }
  const sameApp = e.detail.limit === 'app';
  const count = launch.app && launch.app.count > 0 ? launch.app.count : holders.length;
  const intro = sameApp
    ? [el('strong', {}, `${who} ${appTitle()} ${holders[0].state === 'running' ? 'running' : 'starting'}`
      + (holders[0].created_at ? ` (started ${ago(holders[0].created_at)} ago)` : '') + '.'),
    ` ${appTitle()} runs at most ${count === 1 ? 'one session' : count + ' sessions'} per user.`]
    : [el('strong', {}, `${who} ${holders.length} session${holders.length === 1 ? '' : 's'}, the most allowed.`),
      ` Stop one to launch ${appTitle()}.`];
  const list = el('ul', { class: 'holders' });
  for (const s of holders) {
    const name = s.app_name || s.app;
    list.append(el('li', { 'data-holder': s.id },
      sameApp ? null : el('span', { class: 'holder-name' }, name, ' ', stateBadge(s.state)),
      el('span', { class: 'holder-actions' },
        s.state === 'running' && s.url
          ? el('a', { href: s.url, target: '_blank', rel: 'noopener', class: 'button primary', 'data-open': s.id },
            'Open ' + name)
          : el('button', { type: 'button', class: 'primary', 'data-follow': s.id,
            onclick: () => {
              launch.app = state.apps.find(a => a.id === s.app) || { id: s.app, name: s.app_name };
              launchReset();
              follow(s);
            } }, 'Show its progress'),
        el('button', { type: 'button', 'data-replace': s.id,
          onclick: ev => stopAndLaunch(s, body, ev.currentTarget) },
        sameApp ? 'Stop it and launch again' : 'Stop ' + name + ' and launch'))));
  }
  box.replaceChildren(el('p', { class: 'offer', role: 'alert' }, intro), list);
  $('#launch-go').hidden = true;
  const first = $('.holders a, .holders button', box);
  if (first) first.focus();
}

async function stopAndLaunch(s, body, btn) {
  btn.disabled = true;
  btn.textContent = 'Stopping ' + (s.app_name || s.app) + '…';
  try {
    await api('/v1/sessions/' + s.id, { method: 'DELETE' });
    for (let i = 0; i < 120; i++) {
      const now = await api('/v1/sessions/' + s.id);
      if (['stopped', 'failed', 'lost'].includes(now.state)) break;
      await sleep(500);
    }
  } catch (e) {
    btn.disabled = false;
    btn.textContent = 'Stop failed: ' + e.message;
    return;
  }
  if (!$('#launch-dialog').open) return;
  setLaunching(true);
  launchReset();
  try {
    await follow(await api('/v1/sessions', { method: 'POST', body }));
  } catch (e) {
    setLaunching(false);
    if (e.status === 429) offerRunning(e, body);
    else $('#launch-error').textContent = e.message;
  }
}

/* ---- sessions ------------------------------------------------------------ */

async function loadSessions() {
  const sel = $('#session-state').value;
  const params = new URLSearchParams({ limit: '100' });
  if (sel) params.set('state', sel);
  const data = await api('/v1/sessions?' + params);
  renderSessions((data && data.items) || [], sel);
}

function sessionActions(s) {
  const live = ['requested', 'creating', 'pending', 'running', 'stopping'].includes(s.state);
  const name = s.app_name || s.app;
  const slot = (x) => x || el('span', { class: 'slot', 'aria-hidden': 'true' });
  return el('div', { class: 'row-actions' },
    slot(s.state === 'running' && s.url ? el('a', { href: s.url, target: '_blank', rel: 'noopener', class: 'button primary' },
      'Open', el('span', { class: 'sr-only' }, ' ' + name)) : null),
    slot(live ? el('button', { type: 'button', onclick: () => explainIdle(s) },
      'Culling', el('span', { class: 'sr-only' }, ' of ' + name)) : null),
    slot(live && s.state !== 'stopping' ? el('button', { type: 'button', class: 'danger', 'data-stop': s.id,
      onclick: () => stopSession(s) }, 'Stop', el('span', { class: 'sr-only' }, ' ' + name)) : null));
}

function renderSessions(rows, filter) {
  const everyone = seesEveryone();
  $('#sessions-title').textContent = everyone ? 'Sessions' : 'My sessions';
  $('#sessions-scope').hidden = !everyone;
  $('#session-table').classList.toggle('with-user', everyone);
  const tb = $('#session-table tbody');
  const cards = $('#session-cards');
  tb.replaceChildren();
  cards.replaceChildren();
  const empty = !rows.length;
  $('#sessions-empty').hidden = !empty;
  $('#session-list').hidden = empty;
  if (empty) {
    const what = filter === 'live' ? 'running or starting ' : filter ? filter + ' ' : '';
    $('#sessions-empty-text').textContent = everyone ? `No ${what}sessions.` : `You have no ${what}sessions.`;
  }
  for (const s of rows) {
    const name = s.app_name || s.app;
    const idle = s.state === 'running' ? idleCell(s) : '';
    tb.append(el('tr', { 'data-session': s.id },
      el('th', { scope: 'row' }, name),
      everyone ? el('td', { class: 'user' }, s.user) : null,
      el('td', {}, stateBadge(s.state), s.reason && s.state !== 'running' ? el('span', { class: 'muted' }, ' ' + s.reason) : null),
      el('td', {}, ago(s.created_at)),
      el('td', {}, idle),
      el('td', {}, resourcesText(s.resources)),
      el('td', { class: 'actions-cell' }, sessionActions(s))));
    cards.append(el('li', { class: 'card session-card', 'data-session': s.id },
      el('div', { class: 'card-head' },
        el('h2', {}, name), stateBadge(s.state)),
      el('dl', { class: 'kv' },
        everyone ? [el('dt', {}, 'User'), el('dd', { class: 'user' }, s.user)] : null,
        el('dt', {}, 'Started'), el('dd', {}, ago(s.created_at) + ' ago'),
        s.state === 'running' ? [el('dt', {}, 'Idle'), el('dd', {}, s.state === 'running' ? idleCell(s) : '')] : null,
        el('dt', {}, 'Resources'), el('dd', {}, resourcesText(s.resources) || '—'),
        s.reason && s.state !== 'running' ? [el('dt', {}, 'Reason'), el('dd', {}, s.reason)] : null),
      sessionActions(s)));
  }
}

/* How long ago the session was last active (heartbeat or CPU), and a notice
   when the culler has warned that it will stop it. */
function idleCell(s) {
  const times = [s.last_activity_at, s.cpu_active_at, s.ready_at, s.created_at]
    .filter(Boolean).map((t) => Date.parse(t));
  const last = Math.max(...times);
  const cell = [ago(new Date(last).toISOString())];
  if (s.cull_warned_at && Date.parse(s.cull_warned_at) >= last) {
    cell.push(' ', el('button', { type: 'button', class: 'warn-badge', 'data-warned': s.id,
      title: 'The culler will stop this session soon unless it is used',
      onclick: () => explainIdle(s) }, 'culling soon'));
  }
  return cell;
}

async function stopSession(s) {
  if (!confirm(`Stop ${s.app_name || s.app}?`)) return;
  try {
    await api('/v1/sessions/' + s.id, { method: 'DELETE' });
  } catch (e) {
    alert(e.message);
  }
  await loadSessions();
}

async function explainIdle(s) {
  const dlg = $('#idle-dialog');
  $('#idle-text').textContent = 'Loading…';
  $('#idle-detail').replaceChildren();
  dlg.showModal();
  try {
    const d = await api(`/v1/sessions/${s.id}/idle`);
    $('#idle-text').textContent = d.explanation;
    const kv = $('#idle-detail');
    const add = (k, v) => kv.append(el('dt', {}, k), el('dd', {}, v || '—'));
    add('Decision', d.action + (d.reason ? ' (' + d.reason + ')' : ''));
    add('Last active', d.last_active ? fmtTime(d.last_active) + ' via ' + d.last_active_source : '');
    add('Culled at', d.cull_at ? fmtTime(d.cull_at) : 'never');
    const by = d.last_active_by_source || {};
    add('Heartbeat', by.heartbeat ? fmtTime(by.heartbeat) : 'never');
    add('CPU', by.cpu === 'unavailable' ? 'no metrics' : (by.cpu ? fmtTime(by.cpu) : 'never busy'));
  } catch (e) {
    $('#idle-text').textContent = e.message;
  }
}

/* ---- admin --------------------------------------------------------------- */

async function loadAdmin() {
  await Promise.all([loadRegistry(), loadStats(), loadHistory(null)]);
}

async function loadRegistry() {
  const r = await api('/v1/registry');
  const kv = $('#registry-info');
  kv.replaceChildren();
  const add = (k, v) => kv.append(el('dt', {}, k), el('dd', {}, v === undefined || v === null || v === '' ? '—' : String(v)));
  add('Source', r.source);
  add('Context', r.context);
  add('Live commit', r.commit);
  add('Loaded', r.loaded_at ? fmtTime(r.loaded_at) : '');
  add('Kind', r.kind);
  if (r.last_error) add('Last refresh error', r.last_error);
  const w = $('#registry-warnings');
  w.replaceChildren(...(r.warnings || []).map(x => el('li', {}, typeof x === 'string' ? x : (x.message || JSON.stringify(x)))));
}

async function reloadRegistry() {
  const msg = $('#registry-msg');
  msg.textContent = 'Reloading…';
  try {
    const r = await api('/v1/registry/reload', { method: 'POST', body: {} });
    msg.textContent = 'Reloaded' + (r && r.commit ? ' at ' + r.commit.slice(0, 12) : '') + '.';
  } catch (e) {
    msg.textContent = 'Reload failed: ' + e.message;
  }
  await loadRegistry();
}

/* Charts are SVG drawn at the pixel size of their box (redrawn when it
 * changes), so a 12 px label is 12 px on screen; each has a table with the
 * same figures for screen readers, and shows a value on hover. */
const FONT = 12;

/* A "nice" axis: ticks at 1, 2 or 5 times a power of ten, from 0 to >= max. */
function niceTicks(max, count) {
  if (max <= 0) return [0, 1];
  const raw = max / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(1, [1, 2, 5, 10].map(m => m * p).find(s => s >= raw));
  const ticks = [];
  for (let v = 0; v < max + step; v += step) ticks.push(v);
  return ticks;
}

function chartTable(caption, head, rows) {
  return el('table', { class: 'sr-only chart-table' },
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, head.map(h => el('th', { scope: 'col' }, h)))),
    el('tbody', {}, rows.map(r => el('tr', {}, el('th', { scope: 'row' }, r[0]), el('td', {}, String(r[1]))))));
}

/* The hover readout of a chart box: a small label that follows the pointer. */
function tipShow(box, text, x, y) {
  let tip = $('.chart-tip', box);
  if (!tip) { tip = el('div', { class: 'chart-tip', 'aria-hidden': 'true' }); box.append(tip); }
  tip.textContent = text;
  tip.hidden = false;
  const w = box.clientWidth;
  tip.style.left = Math.max(0, Math.min(x + 10, w - tip.offsetWidth)) + 'px';
  tip.style.top = Math.max(0, y - 28) + 'px';
}
function tipHide(box) { const t = $('.chart-tip', box); if (t) t.hidden = true; }

function barChart(box, items, opts) {
  const w = Math.max(240, Math.floor(box.clientWidth || 300));
  const barH = 20, gap = 8, top = 4, axisH = 34;
  const labelW = Math.min(140, Math.max(60, ...items.map(i => String(i.key).length * 7 + 10)));
  const plotW = w - labelW - 40;
  const ticks = niceTicks(Math.max(1, ...items.map(i => i.value)), 4);
  const max = ticks[ticks.length - 1];
  const h = top + Math.max(1, items.length) * (barH + gap) + axisH;
  const svg = svgEl('svg', { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'img',
    'aria-label': `${opts.label}: ` + (items.length ? items.map(i => `${i.key} ${i.value}`).join(', ') : 'no data') });
  const base = top + items.length * (barH + gap);
  for (const t of ticks) {
    const x = labelW + plotW * t / max;
    svg.append(svgEl('line', { x1: x, x2: x, y1: top, y2: base, class: 'grid' }));
    svg.append(svgEl('text', { x, y: base + FONT + 4, 'text-anchor': 'middle', 'font-size': FONT, class: 'tick' }, String(t)));
  }
  svg.append(svgEl('text', { x: labelW + plotW / 2, y: base + 2 * FONT + 8, 'text-anchor': 'middle', 'font-size': FONT, class: 'axis-title' }, opts.xTitle));
  items.forEach((it, i) => {
    const y = top + i * (barH + gap);
    const key = String(it.key);
    svg.append(svgEl('text', { x: labelW - 6, y: y + barH / 2 + FONT / 2 - 2, 'text-anchor': 'end', 'font-size': FONT, class: 'label' },
      key.length > 18 ? key.slice(0, 17) + '…' : key));
    const bw = Math.max(2, plotW * it.value / max);
    const r = svgEl('rect', { x: labelW, y, width: bw, height: barH, rx: 3, class: 'bar', 'data-value': it.value });
    r.append(svgEl('title', {}, `${key}: ${it.value} ${opts.unit}`));
    svg.append(r);
    svg.append(svgEl('text', { x: labelW + bw + 4, y: y + barH / 2 + FONT / 2 - 2, 'font-size': FONT, class: 'value' }, String(it.value)));
  });
  svg.addEventListener('pointermove', ev => {
    const rect = svg.getBoundingClientRect();
    const i = Math.floor((ev.clientY - rect.top - top) / (barH + gap));
    if (i >= 0 && i < items.length) tipShow(box, `${items[i].key}: ${items[i].value} ${opts.unit}`, ev.clientX - rect.left, ev.clientY - rect.top);
    else tipHide(box);
  });
  svg.addEventListener('pointerleave', () => tipHide(box));
  box.replaceChildren(svg, chartTable(opts.label, [opts.keyTitle, opts.xTitle], items.map(i => [i.key, i.value])));
}

function timeLabel(ms, stepS) {
  const d = new Date(ms).toISOString();
  return stepS >= 86400 ? d.slice(5, 10) : stepS >= 3600 ? d.slice(5, 10) + ' ' + d.slice(11, 16)
    : stepS < 60 ? d.slice(11, 19) : d.slice(11, 16);
}

const TICK_CHOICES = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
  43200, 86400, 172800];

/* Concurrency over time as a step chart with labelled axes. */
function timeChart(box, series, opts) {
  const w = Math.max(260, Math.floor(box.clientWidth || 320));
  const h = 190, left = 42, right = 12, top = 10, bottom = 44;
  const plotW = w - left - right, plotH = h - top - bottom;
  const ticks = niceTicks(Math.max(1, ...series.map(p => p.value)), 4);
  const max = ticks[ticks.length - 1];
  const n = series.length;
  const t0 = n ? series[0].at : 0, t1 = n ? series[n - 1].at + opts.stepS * 1000 : 1;
  const x = ms => left + plotW * (ms - t0) / Math.max(1, t1 - t0);
  const y = v => top + plotH - plotH * v / max;
  const peak = Math.max(0, ...series.map(p => p.value));
  const svg = svgEl('svg', { width: w, height: h, viewBox: `0 0 ${w} ${h}`, role: 'img',
    'aria-label': `${opts.label}: ${n ? `from ${timeLabel(t0, opts.stepS)} to ${timeLabel(t1, opts.stepS)} UTC, peak ${peak}` : 'no data'}` });
  for (const t of ticks) {
    svg.append(svgEl('line', { x1: left, x2: left + plotW, y1: y(t), y2: y(t), class: 'grid' }));
    svg.append(svgEl('text', { x: left - 6, y: y(t) + FONT / 2 - 2, 'text-anchor': 'end', 'font-size': FONT, class: 'tick' }, String(t)));
  }
  svg.append(svgEl('text', { x: 12, y: top + plotH / 2, 'text-anchor': 'middle', 'font-size': FONT, class: 'axis-title',
    transform: `rotate(-90 12 ${top + plotH / 2})` }, opts.yTitle));
  /* Time ticks at round times, about one per 90 px. */
  const want = (t1 - t0) / 1000 / Math.max(2, Math.min(5, Math.floor(plotW / 90)));
  const every = TICK_CHOICES.find(v => v >= want) || 7 * 86400;
  for (let ms = Math.ceil(t0 / (every * 1000)) * every * 1000; ms <= t1; ms += every * 1000) {
    const px = x(ms);
    svg.append(svgEl('line', { x1: px, x2: px, y1: top + plotH, y2: top + plotH + 4, class: 'axis' }));
    svg.append(svgEl('text', { x: px, y: top + plotH + FONT + 6, 'font-size': FONT, class: 'tick',
      'text-anchor': px - left < 24 ? 'start' : left + plotW - px < 24 ? 'end' : 'middle' }, timeLabel(ms, every)));
  }
  svg.append(svgEl('text', { x: left + plotW / 2, y: h - 4, 'text-anchor': 'middle', 'font-size': FONT, class: 'axis-title' }, opts.xTitle));
  svg.append(svgEl('path', { d: `M${left} ${top} V${top + plotH} H${left + plotW}`, class: 'axis' }));
  if (n) {
    let d = `M${x(t0).toFixed(1)} ${y(0).toFixed(1)}`;
    for (const p of series) d += ` V${y(p.value).toFixed(1)} H${x(p.at + opts.stepS * 1000).toFixed(1)}`;
    svg.append(svgEl('path', { d: d + ` V${y(0).toFixed(1)} Z`, class: 'area' }));
    svg.append(svgEl('path', { d, class: 'line' }));
  }
  const cursor = svgEl('line', { y1: top, y2: top + plotH, class: 'cursor', visibility: 'hidden' });
  svg.append(cursor);
  svg.addEventListener('pointermove', ev => {
    const rect = svg.getBoundingClientRect();
    const px = ev.clientX - rect.left;
    const i = Math.floor((px - left) / plotW * n);
    if (!n || i < 0 || i >= n) { tipHide(box); cursor.setAttribute('visibility', 'hidden'); return; }
    const p = series[i];
    const cx = x(p.at + opts.stepS * 500);
    cursor.setAttribute('x1', cx); cursor.setAttribute('x2', cx); cursor.setAttribute('visibility', 'visible');
    tipShow(box, `${timeLabel(p.at, opts.stepS)} UTC: ${p.value} ${p.value === 1 ? 'session' : 'sessions'}`, px, ev.clientY - rect.top);
  });
  svg.addEventListener('pointerleave', () => { tipHide(box); cursor.setAttribute('visibility', 'hidden'); });
  /* The table keeps the buckets where the count changes, so it stays short. */
  const rows = series.filter((p, i) => i === 0 || p.value !== series[i - 1].value)
    .map(p => [timeLabel(p.at, opts.stepS) + ' UTC', p.value]);
  box.replaceChildren(svg, chartTable(opts.label + ' (where the count changes)', ['Time', opts.yTitle], rows));
  box.dataset.step = String(opts.stepS);
}

/* The concurrency chart's range and step, chosen from the data: from the
 * first moment a session was alive in the last 7 days to now, in at most 72
 * steps of a round length.  The week by the hour finds the first hour with a
 * session; when that is recent, that hour in 10 s steps finds its moment. */
const STEP_CHOICES = [5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600,
  43200, 86400];

function firstActive(stats) {
  const p = ((stats.concurrency && stats.concurrency.series) || []).find(x => x.max > 0);
  return p ? Date.parse(p.at) : null;
}

async function statsOver(from, to, step) {
  return api('/v1/admin/stats?' + new URLSearchParams({
    from: new Date(from).toISOString(), to: new Date(to).toISOString(), step: String(step) }));
}

async function concurrencyRange(week, now) {
  let first = firstActive(week);
  if (first === null) return null;
  if (now - first < 2 * 86400000) {
    const fine = await statsOver(first, Math.min(first + 3600000, now), 10);
    first = firstActive(fine) || first;
  }
  const span = Math.max(60, (now - first) / 1000);
  const step = STEP_CHOICES.find(x => span / x <= 72) || 86400;
  /* One step of room before the first session, so the rise shows. */
  return { from: Math.floor(first / (step * 1000)) * step * 1000 - step * 1000, to: now, step };
}

async function loadStats() {
  const now = Date.now();
  const week = await api('/v1/admin/stats');
  const range = await concurrencyRange(week, now);
  let conc = { series: [], stepS: 3600 };
  if (range) {
    const s = await statsOver(range.from, range.to, range.step);
    conc = { series: s.concurrency.series.map(p => ({ at: Date.parse(p.at), value: p.max })), stepS: s.step_s };
  }
  const pick = obj => Object.entries(obj || {}).map(([key, value]) => ({ key, value }));
  state.charts = {
    days: pick(week.by_day).sort((a, b) => (a.key < b.key ? -1 : 1)).slice(-14),
    apps: pick(week.by_app).sort((a, b) => b.value - a.value).slice(0, 8),
    users: pick(week.by_user).sort((a, b) => b.value - a.value).slice(0, 8),
    conc,
  };
  drawCharts();
}

function drawCharts() {
  const c = state.charts;
  if (!c || $('#view-admin').hidden) return;
  barChart($('#chart-days'), c.days, { label: 'Sessions started per day (last 7 days)', keyTitle: 'Day', xTitle: 'Sessions started', unit: 'sessions' });
  timeChart($('#chart-concurrent'), c.conc.series, { label: 'Sessions running at once', stepS: c.conc.stepS, yTitle: 'Sessions', xTitle: 'Time (UTC)' });
  barChart($('#chart-apps'), c.apps, { label: 'Top apps (last 7 days)', keyTitle: 'App', xTitle: 'Sessions started', unit: 'sessions' });
  barChart($('#chart-users'), c.users, { label: 'Top users (last 7 days)', keyTitle: 'User', xTitle: 'Sessions started', unit: 'sessions' });
}

function historyFilter() {
  const f = new FormData($('#history-form'));
  const p = new URLSearchParams();
  for (const k of ['user', 'app', 'state', 'label']) if (f.get(k)) p.set(k, f.get(k));
  if (f.get('from')) p.set('from', new Date(f.get('from') + 'T00:00:00Z').toISOString());
  if (f.get('to')) p.set('to', new Date(f.get('to') + 'T23:59:59Z').toISOString());
  return p;
}

async function loadHistory(cursor) {
  const p = historyFilter();
  p.set('limit', '25');
  if (cursor) p.set('cursor', cursor);
  const data = await api('/v1/admin/history?' + p);
  const tb = $('#history-table tbody');
  tb.replaceChildren();
  for (const s of (data.items || [])) {
    tb.append(el('tr', { 'data-session': s.id },
      el('td', {}, fmtTime(s.created_at)),
      el('td', {}, s.user),
      el('td', {}, s.app),
      el('td', {}, stateBadge(s.state)),
      el('td', {}, s.stopped_by || ''),
      el('td', {}, s.stop_reason || s.reason || '')));
  }
  $('#history-total').textContent = `${data.total !== undefined ? data.total : (data.items || []).length} sessions match.`;
  state.historyCursor = data.next_cursor || null;
  $('#history-next').disabled = !state.historyCursor;
}

/* The current filter as CSV, downloaded through an object URL (the request
 * needs the token, so a plain link cannot name it). */
async function exportHistory() {
  const msg = $('#history-export-msg');
  msg.textContent = 'Preparing the CSV…';
  try {
    const res = await fetch('/v1/admin/history.csv?' + historyFilter(), { headers: authHeaders('text/csv') });
    if (!res.ok) {
      const e = await res.json().catch(() => null);
      throw new Error((e && e.error && e.error.message) || 'HTTP ' + res.status);
    }
    const url = URL.createObjectURL(await res.blob());
    const a = el('a', { href: url, download: `tycho-history-${new Date().toISOString().slice(0, 10)}.csv`, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    msg.textContent = 'CSV downloaded.';
  } catch (e) {
    msg.textContent = 'Export failed: ' + e.message;
  }
}

/* ---- wiring -------------------------------------------------------------- */

async function checkCluster() {
  try {
    const h = await fetch('/healthz').then(r => r.json());
    $('#sim-banner').hidden = !(h && h.cluster === 'simulated');
  } catch (_) { /* the banner stays hidden */ }
}

function init() {
  $('#signin-form').addEventListener('submit', async ev => {
    ev.preventDefault();
    state.token = $('#token-input').value.trim();
    state.me = null;
    iconCacheClear();
    if (await whoami()) {
      localStorage.setItem('tycho.token', state.token);
      $('#signin-error').textContent = '';
      $('#token-input').value = '';
      route();
    } else {
      state.token = '';
      $('#signin-error').textContent = 'That token was not accepted.';
    }
  });
  $('#sign-out').addEventListener('click', signOut);
  $('#app-search').addEventListener('input', renderApps);
  $('#session-state').addEventListener('change', () => loadSessions().catch(e => alert(e.message)));
  $('#sessions-refresh').addEventListener('click', () => loadSessions().catch(e => alert(e.message)));
  $('#launch-form').addEventListener('submit', startLaunch);
  $('#launch-cancel').addEventListener('click', () => $('#launch-dialog').close());
  $('#launch-dialog').addEventListener('close', () => { if (launch.abort) launch.abort.abort(); });
  $('#registry-reload').addEventListener('click', reloadRegistry);
  $('#history-form').addEventListener('submit', ev => {
    ev.preventDefault();
    state.historyCursors = [];
    loadHistory(null).catch(e => alert(e.message));
  });
  $('#history-export').addEventListener('click', exportHistory);
  $('#history-first').addEventListener('click', () => { state.historyCursors = []; loadHistory(null); });
  $('#history-next').addEventListener('click', () => {
    if (state.historyCursor) { state.historyCursors.push(state.historyCursor); loadHistory(state.historyCursor); }
  });
  let redraw = 0;
  window.addEventListener('resize', () => {
    cancelAnimationFrame(redraw);
    redraw = requestAnimationFrame(drawCharts);
  });
  window.addEventListener('hashchange', route);
  checkCluster();
  route();
}

init();
