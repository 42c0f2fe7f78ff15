/*
 * api_openapi.c - /openapi.json (schema/openapi.yaml, embedded at build time
 * and converted once with doc) and /docs, a self-contained page that renders
 * it (no external scripts, fonts or styles, so it works offline), sent with a
 * Content-Security-Policy that allows only its own inline style and script.
 *
 * The YAML is parsed on first use and the JSON text kept for the life of the
 * process; a broken file is reported as a 500 naming file:line:col (the test
 * suite parses it too, so that never ships).
 */
#include "api/api_srv.h"
#include "doc/doc.h"
#include "util/crypto.h"
#include "util/embed.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct ty_embedded_file ty_embed_schema_files[];

static pthread_once_t once = PTHREAD_ONCE_INIT;
static char *spec_json;
static struct ty_error spec_err;

static void convert(void)
{
    const struct ty_embedded_file *f = ty_embed_schema_files;
    while (f->path && strcmp(f->path, "openapi.yaml") != 0)
        f++;
    if (!f->path) {
        ty_error_set(&spec_err, TY_ERR, "schema/openapi.yaml is not embedded in this binary");
        return;
    }
    struct doc *d = NULL;
    if (doc_parse(&d, "schema/openapi.yaml", (const char *)f->data, f->size, NULL, &spec_err) < 0)
        return;
    spec_json = json_dumps(doc_root(d), JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    doc_free(d);
    if (!spec_json)
        ty_error_set(&spec_err, TY_ERR, "schema/openapi.yaml cannot be rendered as JSON");
}

const char *api_openapi_json(struct ty_error *err)
{
    pthread_once(&once, convert);
    if (!spec_json) {
        if (err)
            *err = spec_err;
        return NULL;
    }
    return spec_json;
}

static int openapi_json(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    const char *s = api_openapi_json(err);
    if (!s)
        return err ? err->code : TY_ERR;
    api_resp_text(resp, 200, "application/json", s, strlen(s));
    return 0;
}

static const char docs_html[] =
    "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
    "<title>Tycho API</title>\n<style>\n"
    "body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d232a;background:#f6f7f9}\n"
    "header{background:#1f3b57;color:#fff;padding:14px 24px}header h1{margin:0;font-size:20px}\n"
    "main{max-width:1100px;margin:0 auto;padding:16px 24px}\n"
    ".op{background:#fff;border:1px solid #d9dde3;border-radius:6px;margin:10px 0}\n"
    ".op summary{cursor:pointer;padding:8px 12px;display:flex;gap:12px;align-items:center}\n"
    ".m{font:bold 12px monospace;padding:3px 8px;border-radius:4px;color:#fff;min-width:52px;"
    "text-align:center}\n"
    ".GET{background:#2f7d32}.POST{background:#1565c0}.PATCH{background:#8e5b00}"
    ".DELETE{background:#b71c1c}\n"
    ".p{font-family:monospace;font-weight:600}.s{color:#56606b}\n"
    ".body{padding:4px 16px 12px;border-top:1px solid #eceff3}\n"
    "pre{background:#f2f4f7;padding:8px;border-radius:4px;overflow:auto;font-size:12.5px}\n"
    "table{border-collapse:collapse}td,th{border:1px solid #e1e4e8;padding:3px 8px;"
    "text-align:left;font-size:13px}\n"
    "h2{margin-top:28px;border-bottom:1px solid #d9dde3}\n"
    "</style></head><body>\n<header><h1 id=\"title\">Tycho API</h1>"
    "<div id=\"ver\"></div></header>\n<main><p id=\"desc\"></p><div id=\"ops\">Loading "
    "/openapi.json&hellip;</div></main>\n<script>\n"
    "'use strict';\n"
    "function el(t,a,c){const e=document.createElement(t);if(a)for(const k in a)"
    "e.setAttribute(k,a[k]);\n"
    " (c||[]).forEach(x=>e.append(typeof x==='string'?document.createTextNode(x):x));return e;}\n"
    "function deref(spec,o){let n=0;while(o&&o.$ref&&n++<20){const p=o.$ref.replace(/^#\\//,'')"
    ".split('/');\n"
    " o=p.reduce((a,k)=>a&&a[k],spec);}return o;}\n"
    "function schemaText(spec,s,depth){s=deref(spec,s);if(!s)return 'any';if(depth>6)"
    "return '...';\n"
    " if(s.type==='object'&&s.properties){const req=new Set(s.required||[]);"
    "const lines=Object.entries(s.properties)\n"
    "  .map(([k,v])=>'  '.repeat(depth+1)+k+(req.has(k)?'*':'')+': '+"
    "schemaText(spec,v,depth+1));\n"
    "  return '{\\n'+lines.join('\\n')+'\\n'+'  '.repeat(depth)+'}';}\n"
    " if(s.type==='array')return '['+schemaText(spec,s.items,depth)+']';\n"
    " if(s.enum)return s.enum.map(x=>JSON.stringify(x)).join(' | ');\n"
    " if(s.oneOf||s.anyOf)return (s.oneOf||s.anyOf).map(x=>schemaText(spec,x,depth))"
    ".join(' | ');\n"
    " return (s.type||'any')+(s.format?' ('+s.format+')':'')+(s.description?'  # '+"
    "s.description:'');}\n"
    "function render(spec){document.getElementById('title').textContent=spec.info.title;\n"
    " document.getElementById('ver').textContent='version '+spec.info.version;\n"
    " document.getElementById('desc').textContent=spec.info.description||'';\n"
    " const ops=document.getElementById('ops');ops.textContent='';const groups={};\n"
    " for(const [path,item] of Object.entries(spec.paths))for(const m of "
    "['get','post','patch','put','delete']){\n"
    "  const op=item[m];if(!op)continue;const tag=(op.tags||['other'])[0];"
    "(groups[tag]=groups[tag]||[]).push([m,path,op,item]);}\n"
    " for(const [tag,list] of Object.entries(groups)){ops.append(el('h2',null,[tag]));\n"
    "  for(const [m,path,op,item] of list){const M=m.toUpperCase();\n"
    "   const body=el('div',{class:'body'});\n"
    "   if(op.description)body.append(el('p',null,[op.description]));\n"
    "   if(op.security&&op.security.length===0)body.append(el('p',null,['No authentication.']));\n"
    "   const params=[...(item.parameters||[]),...(op.parameters||[])].map(p=>deref(spec,p));\n"
    "   if(params.length){const t=el('table');t.append(el('tr',null,[el('th',null,['name']),"
    "el('th',null,['in']),el('th',null,['description'])]));\n"
    "    params.forEach(p=>t.append(el('tr',null,[el('td',null,[p.name+(p.required?'*':'')]),"
    "el('td',null,[p.in]),el('td',null,[p.description||''])])));body.append(t);}\n"
    "   const rb=op.requestBody&&deref(spec,op.requestBody);\n"
    "   if(rb){const c=rb.content||{};for(const [ct,v] of Object.entries(c)){"
    "body.append(el('h4',null,['Request body ('+ct+')']));\n"
    "    body.append(el('pre',null,[schemaText(spec,v.schema,0)]));}}\n"
    "   for(const [code,r0] of Object.entries(op.responses||{})){const r=deref(spec,r0);\n"
    "    body.append(el('h4',null,[code+' '+(r.description||'')]));const c=r.content||{};\n"
    "    for(const [ct,v] of Object.entries(c))body.append(el('pre',null,[ct+'\\n'+"
    "schemaText(spec,v.schema,0)]));}\n"
    "   ops.append(el('details',{class:'op'},[el('summary',null,[el('span',{class:'m '+M},[M]),\n"
    "    el('span',{class:'p'},[path]),el('span',{class:'s'},[op.summary||''])]),body]));}}}\n"
    "fetch('/openapi.json').then(r=>r.json()).then(render).catch(e=>{"
    "document.getElementById('ops').textContent='Cannot load /openapi.json: '+e;});\n"
    "</script></body></html>\n";

/* The page's policy allows exactly its own inline style and script, by their
 * SHA-256 (CSP level 2 hash sources), and fetching /openapi.json. */
static pthread_once_t csp_once = PTHREAD_ONCE_INIT;
static char docs_csp[512];

/* "'sha256-<base64>'" of the text between open and close in docs_html. */
static void inline_hash(char *out, size_t n, const char *open, const char *close)
{
    const char *a = strstr(docs_html, open), *b;
    unsigned char d[TY_SHA256_LEN];
    a = a ? a + strlen(open) : docs_html;
    b = strstr(a, close);
    ty_sha256(d, a, b ? (size_t)(b - a) : 0);
    char *b64 = ty_base64(d, sizeof d);
    snprintf(out, n, "'sha256-%s'", b64);
    free(b64);
}

static void make_docs_csp(void)
{
    char script[80], style[80];
    inline_hash(script, sizeof script, "<script>", "</script>");
    inline_hash(style, sizeof style, "<style>", "</style>");
    snprintf(docs_csp, sizeof docs_csp,
             "default-src 'none'; script-src %s; style-src %s; connect-src 'self'; "
             "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
             script, style);
}

static int docs_page(struct api_req *req, struct api_resp *resp, struct ty_error *err)
{
    pthread_once(&csp_once, make_docs_csp);
    api_resp_text(resp, 200, "text/html; charset=utf-8", docs_html, sizeof(docs_html) - 1);
    resp->csp = docs_csp;
    return 0;
}

const struct api_route api_openapi_routes[] = {
    {.method = "GET", .path = "/openapi.json", .fn = openapi_json, .auth = API_AUTH_PUBLIC},
    {.method = "GET", .path = "/docs", .fn = docs_page, .auth = API_AUTH_PUBLIC},
    {0},
};
