/*
 * /docs: schema/openapi.yaml (as /openapi.json) rendered as a page, one
 * folding entry per operation.  Descriptions are Markdown in the document;
 * the subset it uses is rendered here: paragraphs and `code spans`.  Text
 * goes into the page as text nodes only.
 */
'use strict';

function el(tag, attrs, children) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  for (const x of children || []) e.append(typeof x === 'string' ? document.createTextNode(x) : x);
  return e;
}

/* One paragraph: text with `code` spans. */
function inline(text) {
  const out = [];
  const re = /`([^`]+)`/g;
  let last = 0, m;
  while ((m = re.exec(text))) {
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(el('code', null, [m[1]]));
    last = re.lastIndex;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

/* Markdown paragraphs (a blank line apart) as <p> elements. */
function markdown(text) {
  return String(text || '').split(/\n\s*\n/).map(p => p.trim()).filter(Boolean)
    .map(p => el('p', null, inline(p.replace(/\s*\n\s*/g, ' '))));
}

/* Inside a schema's text (a <pre>), code spans lose their backticks. */
const plain = t => String(t || '').replace(/`([^`]*)`/g, '$1');

function deref(spec, o) {
  let n = 0;
  while (o && o.$ref && n++ < 20) {
    const p = o.$ref.replace(/^#\//, '').split('/');
    o = p.reduce((a, k) => a && a[k], spec);
  }
  return o;
}

function schemaText(spec, s, depth) {
  s = deref(spec, s);
  if (!s) return 'any';
  if (depth > 6) return '...';
  if (s.type === 'object' && s.properties) {
    const req = new Set(s.required || []);
    const lines = Object.entries(s.properties).map(([k, v]) =>
      '  '.repeat(depth + 1) + k + (req.has(k) ? '*' : '') + ': ' + schemaText(spec, v, depth + 1));
    return '{\n' + lines.join('\n') + '\n' + '  '.repeat(depth) + '}';
  }
  if (s.type === 'array') return '[' + schemaText(spec, s.items, depth) + ']';
  if (s.enum) return s.enum.map(x => JSON.stringify(x)).join(' | ');
  if (s.oneOf || s.anyOf) return (s.oneOf || s.anyOf).map(x => schemaText(spec, x, depth)).join(' | ');
  return (s.type || 'any') + (s.format ? ' (' + s.format + ')' : '') +
    (s.description ? '  # ' + plain(s.description) : '');
}

function operation(spec, m, path, op, item) {
  const M = m.toUpperCase();
  const body = el('div', { class: 'body' });
  body.append(...markdown(op.description));
  if (op.security && op.security.length === 0) body.append(el('p', null, ['No authentication.']));
  const params = [...(item.parameters || []), ...(op.parameters || [])].map(p => deref(spec, p));
  if (params.length) {
    const t = el('table', null, [el('tr', null, [el('th', null, ['name']), el('th', null, ['in']),
      el('th', null, ['description'])])]);
    for (const p of params)
      t.append(el('tr', null, [el('td', null, [el('code', null, [p.name + (p.required ? '*' : '')])]),
        el('td', null, [p.in]), el('td', null, inline(p.description || ''))]));
    body.append(el('div', { class: 'table' }, [t]));
  }
  const rb = op.requestBody && deref(spec, op.requestBody);
  if (rb) {
    for (const [ct, v] of Object.entries(rb.content || {})) {
      body.append(el('h4', null, ['Request body (' + ct + ')']));
      body.append(el('pre', null, [schemaText(spec, v.schema, 0)]));
    }
  }
  for (const [code, r0] of Object.entries(op.responses || {})) {
    const r = deref(spec, r0);
    body.append(el('h4', null, [code + ' ', ...inline(r.description || '')]));
    for (const [ct, v] of Object.entries(r.content || {}))
      body.append(el('pre', null, [ct + '\n' + schemaText(spec, v.schema, 0)]));
  }
  return el('details', { class: 'op' }, [el('summary', null, [el('span', { class: 'm ' + M }, [M]),
    el('span', { class: 'p' }, [path]), el('span', { class: 's' }, inline(op.summary || ''))]), body]);
}

function render(spec) {
  document.getElementById('title').textContent = spec.info.title;
  document.getElementById('ver').textContent = 'version ' + spec.info.version;
  document.getElementById('desc').replaceChildren(...markdown(spec.info.description));
  const ops = document.getElementById('ops');
  ops.textContent = '';
  const groups = {};
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const m of ['get', 'post', 'patch', 'put', 'delete']) {
      const op = item[m];
      if (!op) continue;
      const tag = (op.tags || ['other'])[0];
      (groups[tag] = groups[tag] || []).push([m, path, op, item]);
    }
  }
  for (const [tag, list] of Object.entries(groups)) {
    ops.append(el('h2', null, [tag]));
    for (const [m, path, op, item] of list) ops.append(operation(spec, m, path, op, item));
  }
}

fetch('/openapi.json').then(r => r.json()).then(render).catch(e => {
  document.getElementById('ops').textContent = 'Cannot load /openapi.json: ' + e;
});
