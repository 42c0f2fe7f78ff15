/*
 * Tycho web UI: catalogue, launch with live progress, my sessions, admin history
 * and charts.  Plain browser JavaScript, served by tycho itself; it makes no
 * request outside the server it came from.
 */
'use strict';

const state = {
  token: localStorage.getItem('tycho.token') || '',
  me: null,          // {username, role, proxy}
  apps: [],
  historyCursor: null,
  historyCursors: [],
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
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/* ---- API ---------------------------------------------------------------- */

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path, opts = {}) {
  const headers = Object.assign({ 'Accept': 'application/json' }, opts.headers || {});
  if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
  if (opts.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method: opts.method || 'GET', headers,
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
  });
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || 'error', err.message || res.statusText);
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
    const headers = { 'Accept': 'image/png, image/jpeg, image/gif, image/webp' };
    if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
    p = fetch(a.icon_url, { headers })
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
  const headers = { 'Accept': 'text/event-stream' };
  if (state.token) headers['Authorization'] = 'Bearer ' + state.token;
  const res = await fetch(path, { headers, signal });
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
      if (onEvent(type, payload) === false) return;
    }
  }
}

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
  const d = new Date(iso);
  return d.toISOString().replace('T', ' ').slice(0, 16);
}

function colorFor(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) % 360;
  return `hsl(${h} 55% 42%)`;
}

function stateBadge(s) { return el('span', { class: 'state ' + s }, s); }

function bytesText(b) {
  if (!b) return '';
  const gi = b / 1073741824;
  return gi >= 1 ? (Math.round(gi * 10) / 10) + 'Gi' : Math.round(b / 1048576) + 'Mi';
}

/* Session resources {cpu, memory_bytes, gpus} or app limits {cpus, memory, gpus}. */
function resourcesText(r) {
  if (!r) return '';
  const parts = [];
  const cpu = r.cpu !== undefined ? r.cpu : r.cpus;
  if (cpu) parts.push(cpu + ' CPU');
  if (r.memory) parts.push(r.memory);
  else if (r.memory_bytes) parts.push(bytesText(r.memory_bytes));
  if (r.gpus) parts.push(r.gpus + ' GPU');
  return parts.join(', ');
}

/* ---- views --------------------------------------------------------------- */

const views = ['signin', 'apps', 'sessions', 'admin'];

function show(name) {
  for (const v of views) $('#view-' + v).hidden = v !== name;
  for (const a of document.querySelectorAll('[data-nav]')) {
    if (a.dataset.nav === name) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  document.title = 'Tycho · ' + ({ signin: 'Sign in', apps: 'Apps', sessions: 'My sessions', admin: 'Admin' })[name];
}

async function route() {
  if (!state.me) {
    const ok = await whoami();
    if (!ok) { show('signin'); $('#token-input').focus(); return; }
  }
  const name = (location.hash.replace(/^#\//, '') || 'apps').split('?')[0];
  if (name === 'admin' && state.me.role !== 'admin') { location.hash = '#/apps'; return; }
  if (!views.includes(name) || name === 'signin') { location.hash = '#/apps'; return; }
  show(name);
  try {
    if (name === 'apps') await loadApps();
    else if (name === 'sessions') await loadSessions();
    else if (name === 'admin') await loadAdmin();
  } catch (e) {
    if (e.status === 401) { signOut(); return; }
    const view = $('#view-' + name);
    view.append(el('p', { class: 'error', role: 'alert' }, e.message));
  }
}

async function whoami() {
  try {
    state.me = await api('/v1/whoami');
  } catch (e) {
    state.me = null;
    return false;
  }
  $('#who-name').textContent = state.me.username
    ? `${state.me.username} (${state.me.role})` : state.me.role;
  $('#sign-out').hidden = !!state.me.proxy || !state.token;
  for (const li of document.querySelectorAll('[data-admin]')) li.hidden = state.me.role !== 'admin';
  return true;
}

function signOut() {
  state.token = '';
  state.me = null;
  iconCacheClear();
  localStorage.removeItem('tycho.token');
  $('#who-name').textContent = '';
  $('#sign-out').hidden = true;
  show('signin');
}

/* Catalogue */

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
    list.append(el('li', {},
      el('article', { class: 'card app', 'aria-labelledby': 'app-' + a.id },
        el('header', {},
          avatar,
          el('h2', { id: 'app-' + a.id }, a.name || a.id)),
        el('p', {}, a.description || ''),
        el('div', { class: 'meta' }, resourcesText(max) ? 'Up to ' + resourcesText(max) : ''),
        el('div', { class: 'actions' },
          a.docs ? el('a', { href: a.docs, target: '_blank', rel: 'noopener noreferrer' }, 'Docs') : null,
          el('button', { type: 'button', class: 'primary', 'data-launch': a.id,
            onclick: () => openLaunch(a) }, 'Launch ' + (a.name || a.id))))));
  }
}

/* Launch with live progress */

let launchAbort = null;

function memoryChoices(min, max) {
  const toMi = s => {
    const m = /^([0-9.]+)\s*([KMGT]i?)?$/i.exec(String(s || ''));
    if (!m) return 0;
    const n = parseFloat(m[1]);
    const u = (m[2] || '').toUpperCase();
    const f = { '': 1 / 1048576, K: 1 / 1024, KI: 1 / 1024, M: 1, MI: 1, G: 1024, GI: 1024, T: 1048576, TI: 1048576 }[u];
    return n * (f || 1);
  };
  const lo = Math.max(toMi(min) || 256, 128), hi = Math.max(toMi(max) || lo, lo);
  const out = [];
  for (let v = 256; v <= hi; v *= 2) if (v >= lo) out.push(v);
  if (!out.includes(hi)) out.push(hi);
  return out.map(v => v >= 1024 && v % 1024 === 0 ? (v / 1024) + 'Gi' : Math.round(v) + 'Mi');
}

function openLaunch(app) {
  const dlg = $('#launch-dialog');
  const res = app.resources || {};
  const min = res.min || {}, max = res.max || {};
  $('#launch-title').textContent = 'Launch ' + (app.name || app.id);
  const cpu = $('#launch-cpu');
  const cpuMin = parseFloat(min.cpus) || 0.25, cpuMax = parseFloat(max.cpus) || 8;
  cpu.min = Math.min(cpuMin, cpuMax); cpu.max = cpuMax; cpu.value = cpuMax;
  const mem = $('#launch-memory');
  mem.replaceChildren(...memoryChoices(min.memory, max.memory).map(m => el('option', { value: m }, m)));
  if (mem.options.length) mem.value = mem.options[mem.options.length - 1].value;
  const gpu = $('#launch-gpu');
  gpu.max = max.gpus || 0; gpu.value = 0; gpu.disabled = !max.gpus;
  /* Admin and platform tokens are bound to no user: they launch for one. */
  $('#launch-user-row').hidden = !!state.me.username;
  $('#launch-user').required = !state.me.username;
  $('#launch-choices').hidden = false;
  $('#launch-progress').replaceChildren();
  $('#launch-result').replaceChildren();
  $('#launch-go').hidden = false;
  $('#launch-go').disabled = false;
  dlg.dataset.app = app.id;
  dlg.showModal();
  cpu.focus();
}

function progressLine(text, cls) {
  $('#launch-progress').append(el('li', { class: cls || '' }, text));
}

async function launch(ev) {
  ev.preventDefault();
  const dlg = $('#launch-dialog');
  const cpu = parseFloat($('#launch-cpu').value);
  const cpuMax = parseFloat($('#launch-cpu').max), cpuMin = parseFloat($('#launch-cpu').min);
  if (!(cpu >= cpuMin && cpu <= cpuMax)) {
    $('#launch-result').textContent = `CPU must be between ${cpuMin} and ${cpuMax}.`;
    return;
  }
  const body = { app: dlg.dataset.app, cpu, memory: $('#launch-memory').value };
  if (!state.me.username) {
    const who = $('#launch-user').value.trim();
    if (!who) { $('#launch-result').textContent = 'Name the user to launch for.'; return; }
    body.username = who;
  }
  const gpu = parseInt($('#launch-gpu').value, 10);
  if (gpu > 0) body.gpu = gpu;
  $('#launch-go').disabled = true;
  $('#launch-choices').hidden = true;
  progressLine('Requesting…');
  let session;
  try {
    session = await api('/v1/sessions', { method: 'POST', body });
  } catch (e) {
    progressLine(e.message, 'failed');
    $('#launch-result').textContent = 'The launch was refused.';
    $('#launch-go').hidden = true;
    return;
  }
  launchAbort = new AbortController();
  const signal = launchAbort.signal;
  const showReady = (url) => {
    progressLine('Ready', 'ready');
    $('#launch-result').replaceChildren(el('a', { href: url || session.url, target: '_blank', rel: 'noopener', id: 'open-app' }, 'Open ' + (session.app_name || session.app)));
  };
  const showFailed = (reason, message) => {
    progressLine('Failed: ' + (reason || '') + ' ' + (message || ''), 'failed');
    $('#launch-result').textContent = 'The app could not start.';
  };
  let finished = false;
  try {
    await streamEvents(`/v1/sessions/${session.id}/progress`, (type, data) => {
      const msg = (data && (data.message || data.state || data.reason)) || String(data);
      if (type === 'ready') {
        finished = true;
        showReady(data.url);
        return false;
      }
      if (type === 'failed') {
        finished = true;
        showFailed(data.reason, data.message);
        return false;
      }
      progressLine(msg);
      return true;
    }, signal);
  } catch (e) {
    if (e.name === 'AbortError') return;
    /* The server keeps a bounded number of streams (503 when all are in use):
       follow the launch by polling the session instead. */
    progressLine('Following the launch by polling (' + e.message + ')');
  }
  if (!finished && !signal.aborted) {
    const end = await pollLaunch(session.id, signal);
    if (end && end.state === 'running') showReady(end.url);
    else if (end) showFailed(end.reason || end.state, end.message);
  }
  $('#launch-go').hidden = true;
}

/* Polls a session every 2 s until it runs or ends, printing each new state.
   Returns the last session read, or null when aborted. */
async function pollLaunch(id, signal) {
  let last = '';
  while (!signal.aborted) {
    let s;
    try {
      s = await api(`/v1/sessions/${id}`);
    } catch (e) {
      progressLine('Cannot read the session: ' + e.message, 'failed');
      return null;
    }
    const line = s.state + (s.message ? ': ' + s.message : '');
    if (s.state === 'running' || ['stopping', 'stopped', 'failed', 'lost'].includes(s.state)) return s;
    if (line !== last) { last = line; progressLine(line); }
    await new Promise((resolve) => {
      const t = setTimeout(resolve, 2000);
      signal.addEventListener('abort', () => { clearTimeout(t); resolve(); }, { once: true });
    });
  }
  return null;
}

/* My sessions */

async function loadSessions() {
  const sel = $('#session-state').value;
  const params = new URLSearchParams({ limit: '100' });
  if (sel === 'live') params.set('state', 'live');
  else if (sel) params.set('state', sel);
  const data = await api('/v1/sessions?' + params);
  const rows = (data && data.items) || [];
  const tb = $('#session-table tbody');
  tb.replaceChildren();
  $('#sessions-empty').hidden = rows.length > 0;
  for (const s of rows) {
    const live = ['requested', 'creating', 'pending', 'running', 'stopping'].includes(s.state);
    tb.append(el('tr', { 'data-session': s.id },
      el('th', { scope: 'row' }, s.app_name || s.app),
      el('td', {}, stateBadge(s.state), s.reason ? el('span', { class: 'muted' }, ' ' + s.reason) : null),
      el('td', {}, ago(s.created_at)),
      el('td', {}, s.state === 'running' ? idleCell(s) : ''),
      el('td', {}, resourcesText(s.resources)),
      el('td', {}, el('div', { class: 'actions' },
        s.state === 'running' && s.url ? el('a', { href: s.url, target: '_blank', rel: 'noopener' }, 'Open') : null,
        live ? el('button', { type: 'button', onclick: () => explainIdle(s) }, 'Culling') : null,
        live && s.state !== 'stopping' ? el('button', { type: 'button', class: 'danger',
          'aria-label': 'Stop ' + (s.app_name || s.app), onclick: () => stopSession(s) }, 'Stop') : null))));
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

/* Admin */

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

function barChart(items, opts = {}) {
  const w = 320, barH = 18, gap = 6, labelW = 110;
  const max = Math.max(1, ...items.map(i => i.value));
  const h = Math.max(1, items.length) * (barH + gap);
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', opts.label + ': ' + items.map(i => `${i.key} ${i.value}`).join(', '));
  items.forEach((it, i) => {
    const y = i * (barH + gap);
    const t = document.createElementNS(ns, 'text');
    t.setAttribute('x', labelW - 6); t.setAttribute('y', y + barH - 5);
    t.setAttribute('text-anchor', 'end'); t.setAttribute('font-size', '11');
    t.textContent = String(it.key).length > 16 ? String(it.key).slice(0, 15) + '…' : it.key;
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', labelW); r.setAttribute('y', y);
    r.setAttribute('width', Math.max(2, (w - labelW - 40) * it.value / max)); r.setAttribute('height', barH);
    r.setAttribute('fill', '#3451b2'); r.setAttribute('rx', '3');
    const v = document.createElementNS(ns, 'text');
    v.setAttribute('x', labelW + Math.max(2, (w - labelW - 40) * it.value / max) + 4);
    v.setAttribute('y', y + barH - 5); v.setAttribute('font-size', '11');
    v.textContent = it.value;
    svg.append(t, r, v);
  });
  return svg;
}

function lineChart(points, opts = {}) {
  const w = 320, h = 140, pad = 24;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
  svg.setAttribute('role', 'img');
  const max = Math.max(1, ...points.map(p => p.value));
  svg.setAttribute('aria-label', `${opts.label}: ${points.length} points, peak ${max}`);
  const x = i => pad + (points.length < 2 ? 0 : i * (w - 2 * pad) / (points.length - 1));
  const y = v => h - pad - v * (h - 2 * pad) / max;
  const axis = document.createElementNS(ns, 'path');
  axis.setAttribute('d', `M${pad} ${pad} V${h - pad} H${w - pad}`);
  axis.setAttribute('stroke', '#aab'); axis.setAttribute('fill', 'none');
  svg.append(axis);
  if (points.length) {
    const path = document.createElementNS(ns, 'path');
    path.setAttribute('d', points.map((p, i) => `${i ? 'L' : 'M'}${x(i).toFixed(1)} ${y(p.value).toFixed(1)}`).join(' '));
    path.setAttribute('stroke', '#3451b2'); path.setAttribute('stroke-width', '2'); path.setAttribute('fill', 'none');
    svg.append(path);
  }
  const top = document.createElementNS(ns, 'text');
  top.setAttribute('x', 2); top.setAttribute('y', pad); top.setAttribute('font-size', '11');
  top.textContent = max;
  const first = document.createElementNS(ns, 'text');
  first.setAttribute('x', pad); first.setAttribute('y', h - 6); first.setAttribute('font-size', '10');
  first.textContent = points.length ? points[0].key : '';
  const last = document.createElementNS(ns, 'text');
  last.setAttribute('x', w - pad); last.setAttribute('y', h - 6); last.setAttribute('font-size', '10');
  last.setAttribute('text-anchor', 'end');
  last.textContent = points.length ? points[points.length - 1].key : '';
  svg.append(top, first, last);
  return svg;
}

async function loadStats() {
  const s = await api('/v1/admin/stats');
  const pick = obj => Object.entries(obj || {}).map(([key, value]) => ({ key, value }));
  const series = ((s.concurrency && s.concurrency.series) || [])
    .map(p => ({ key: String(p.at).slice(5, 13).replace('T', ' '), value: p.max }));
  $('#chart-days').replaceChildren(barChart(pick(s.by_day).sort((a, b) => a.key < b.key ? -1 : 1).slice(-14), { label: 'Sessions per day' }));
  $('#chart-concurrent').replaceChildren(lineChart(series, { label: 'Concurrent sessions' }));
  $('#chart-apps').replaceChildren(barChart(pick(s.by_app).sort((a, b) => b.value - a.value).slice(0, 8), { label: 'Top apps' }));
  $('#chart-users').replaceChildren(barChart(pick(s.by_user).sort((a, b) => b.value - a.value).slice(0, 8), { label: 'Top users' }));
}

function historyParams(cursor) {
  const f = new FormData($('#history-form'));
  const p = new URLSearchParams({ limit: '25' });
  for (const k of ['user', 'app', 'state', 'label']) if (f.get(k)) p.set(k, f.get(k));
  if (f.get('from')) p.set('from', new Date(f.get('from') + 'T00:00:00Z').toISOString());
  if (f.get('to')) p.set('to', new Date(f.get('to') + 'T23:59:59Z').toISOString());
  if (cursor) p.set('cursor', cursor);
  return p;
}

async function loadHistory(cursor) {
  const data = await api('/v1/admin/history?' + historyParams(cursor));
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
  $('#launch-form').addEventListener('submit', launch);
  $('#launch-cancel').addEventListener('click', () => {
    if (launchAbort) launchAbort.abort();
    $('#launch-dialog').close();
  });
  $('#launch-dialog').addEventListener('close', () => { if (launchAbort) launchAbort.abort(); });
  $('#registry-reload').addEventListener('click', reloadRegistry);
  $('#history-form').addEventListener('submit', ev => {
    ev.preventDefault();
    state.historyCursors = [];
    loadHistory(null).catch(e => alert(e.message));
  });
  $('#history-first').addEventListener('click', () => { state.historyCursors = []; loadHistory(null); });
  $('#history-next').addEventListener('click', () => {
    if (state.historyCursor) { state.historyCursors.push(state.historyCursor); loadHistory(state.historyCursor); }
  });
  window.addEventListener('hashchange', route);
  checkCluster();
  route();
}

init();
