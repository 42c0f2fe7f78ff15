// validate_compile.mjs - every object `tycho compile` emits, checked by an
// independent validator: the JSON schemas of kubernetes-models (Kubernetes
// 1.27 OpenAPI), plus the rules the schemas do not express (object names,
// label keys and values, selectors that match their pods, references between
// the objects of one launch).
//
// Inputs (environment): TYCHO_BIN, K8S_MODELS_DIR (where kubernetes-models and
// js-yaml are installed), TY_SOURCE_DIR (the bundled registry/), and optionally
// TYCHO_CONFORMANCE_CORPUS (every app with expected manifests in the corpus, with
// and without a policy that turns on the optional objects, and every app of every
// context of the corpus's helx-apps registries through --registry).
// The YAML output is what gets validated, so the emitter is checked as well.
// Exit 0 when all objects are valid, 1 otherwise.
import { createRequire } from "node:module";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";

const modelsDir = process.env.K8S_MODELS_DIR;
const req = createRequire(path.join(path.resolve(modelsDir), "x.js"));
const models = req("kubernetes-models");
const yaml = req("js-yaml");
const tycho = process.env.TYCHO_BIN;
const src = process.env.TY_SOURCE_DIR || ".";
const corpus = process.env.TYCHO_CONFORMANCE_CORPUS;
const tmp = mkdtempSync(path.join(os.tmpdir(), "tycho-validate-"));

// apimachinery's validation regexes (kubernetes.md §4.1).
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const RFC1035 = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QNAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function modelClass(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  let ns;
  if (group === "") {
    ns = models[version];
  } else {
    const key = group.split(".").map((p, i) => (i ? p[0].toUpperCase() + p.slice(1) : p)).join("");
    ns = models[key] && models[key][version];
  }
  return ns && ns[kind];
}

function labelKeyOk(k) {
  const i = k.indexOf("/");
  if (i < 0) return k.length <= 63 && QNAME.test(k);
  const prefix = k.slice(0, i), name = k.slice(i + 1);
  return prefix.length <= 253 && SUBDOMAIN.test(prefix) && name.length <= 63 && QNAME.test(name);
}

function checkLabels(where, labels, errs) {
  for (const [k, v] of Object.entries(labels || {})) {
    if (!labelKeyOk(k)) errs.push(`${where}: invalid label key ${JSON.stringify(k)}`);
    if (typeof v !== "string") errs.push(`${where}: label ${k} is not a string`);
    else if (v !== "" && !(v.length <= 63 && QNAME.test(v)))
      errs.push(`${where}: invalid label value ${k}=${JSON.stringify(v)}`);
  }
}

function subset(sel, labels) {
  return Object.entries(sel || {}).every(([k, v]) => labels && labels[k] === v);
}

function checkPod(where, pod, byName, errs) {
  const vols = new Set();
  for (const v of pod.volumes || []) {
    if (!(v.name.length <= 63 && LABEL.test(v.name))) errs.push(`${where}: volume name ${v.name}`);
    if (vols.has(v.name)) errs.push(`${where}: duplicate volume ${v.name}`);
    vols.add(v.name);
  }
  const names = new Set();
  for (const c of [...(pod.initContainers || []), ...pod.containers]) {
    if (!(c.name.length <= 63 && LABEL.test(c.name))) errs.push(`${where}: container name ${c.name}`);
    if (names.has(c.name)) errs.push(`${where}: duplicate container ${c.name}`);
    names.add(c.name);
    const paths = new Set();
    for (const m of c.volumeMounts || []) {
      if (!vols.has(m.name)) errs.push(`${where}: ${c.name} mounts unknown volume ${m.name}`);
      if (!m.mountPath.startsWith("/")) errs.push(`${where}: ${c.name} relative mount ${m.mountPath}`);
      if (paths.has(m.mountPath)) errs.push(`${where}: ${c.name} mounts ${m.mountPath} twice`);
      paths.add(m.mountPath);
    }
    for (const p of c.ports || [])
      if (p.name && !(p.name.length <= 15 && PORT_NAME.test(p.name)))
        errs.push(`${where}: ${c.name} port name ${p.name}`);
    for (const e of c.env || []) {
      if (e.value !== undefined && typeof e.value !== "string")
        errs.push(`${where}: ${c.name} env ${e.name} value is not a string`);
      const ref = e.valueFrom && e.valueFrom.secretKeyRef;
      if (ref) {
        const s = byName[`Secret/${ref.name}`];
        if (!s) errs.push(`${where}: ${c.name} env ${e.name} refers to missing Secret ${ref.name}`);
        else if (!(ref.key in (s.stringData || {})))
          errs.push(`${where}: ${c.name} env ${e.name} refers to missing key ${ref.key}`);
      }
    }
  }
  // Tycho quirk that must not come back: the user's token in plain env.
  for (const c of pod.containers)
    for (const e of c.env || [])
      if (/token/i.test(e.name) && e.value !== undefined)
        errs.push(`${where}: ${c.name} env ${e.name} holds a token in plain text`);
}

function validateList(label, list) {
  const errs = [];
  if (list.apiVersion !== "v1" || list.kind !== "List" || !Array.isArray(list.items))
    return [`${label}: output is not a v1 List`];
  const byName = {};
  for (const o of list.items) byName[`${o.kind}/${o.metadata && o.metadata.name}`] = o;
  let deployment = null;
  for (const o of list.items) {
    const where = `${label}: ${o.kind}/${o.metadata && o.metadata.name}`;
    const Cls = modelClass(o.apiVersion, o.kind);
    if (!Cls) { errs.push(`${where}: unknown apiVersion/kind ${o.apiVersion} ${o.kind}`); continue; }
    try {
      new Cls(o).validate();
    } catch (e) {
      const details = (e.errors || []).map((x) => `${x.instancePath} ${x.message}`).join("; ");
      errs.push(`${where}: schema: ${details || e.message}`);
    }
    const name = o.metadata.name;
    const nameOk = o.kind === "Service" ? name.length <= 63 && RFC1035.test(name)
                                        : name.length <= 253 && SUBDOMAIN.test(name);
    if (!nameOk) errs.push(`${where}: invalid name`);
    checkLabels(where, o.metadata.labels, errs);
    if (!o.metadata.labels || o.metadata.labels.executor !== "tycho")
      errs.push(`${where}: no executor=tycho label`);
    if (o.kind === "Deployment") {
      deployment = o;
      const t = o.spec.template;
      checkLabels(`${where} template`, t.metadata.labels, errs);
      if (!subset(o.spec.selector.matchLabels, t.metadata.labels))
        errs.push(`${where}: selector does not match the template labels`);
      if (o.spec.replicas !== 1) errs.push(`${where}: replicas is not 1`);
      if (name.length > 63) errs.push(`${where}: name longer than 63`);
      checkPod(where, t.spec, byName, errs);
    }
  }
  for (const o of list.items) {
    const where = `${label}: ${o.kind}/${o.metadata.name}`;
    const podLabels = deployment && deployment.spec.template.metadata.labels;
    if (o.kind === "Service" && !subset(o.spec.selector, podLabels))
      errs.push(`${where}: selector matches no pod of the launch`);
    if (o.kind === "NetworkPolicy" && !subset(o.spec.podSelector.matchLabels, podLabels))
      errs.push(`${where}: podSelector matches no pod of the launch`);
    if (o.kind === "Ingress")
      for (const r of o.spec.rules || [])
        for (const p of (r.http && r.http.paths) || []) {
          const b = p.backend.service, s = byName[`Service/${b.name}`];
          if (!s || !s.spec.ports.some((q) => q.port === b.port.number))
            errs.push(`${where}: backend ${b.name}:${b.port.number} is no Service port of the launch`);
        }
  }
  if (!deployment) errs.push(`${label}: no Deployment`);
  return errs;
}

function compile(label, args) {
  let out;
  try {
    out = execFileSync(tycho, ["compile", ...args, "--username", "alice@example.org",
      "--id", "0123456789abcdef0123456789abcdef", "--host", "helx.example.org",
      "--access-token-file", path.join(tmp, "token"), "--namespace", "helx", "-o", "yaml"],
      { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    return { errs: [`${label}: tycho compile failed: ${(e.stderr || e.message).trim()}`] };
  }
  const docs = yaml.loadAll(out);
  if (docs.length !== 1) return { errs: [`${label}: expected one YAML document`] };
  return { list: docs[0], errs: validateList(label, docs[0]) };
}

writeFileSync(path.join(tmp, "token"), "secret-token\n");
// GPUs and home directories on, and an Ingress instead of the Ambassador
// mapping, so those paths get validated too.
writeFileSync(path.join(tmp, "policy.json"), JSON.stringify({
  init_home_dirs: true, gitea_host: "gitea.example.org", gitea_user: "git",
  gitea_service: "gitea-ssh", client_cidrs: ["10.0.0.0/8"], create_pvcs: true,
  ambassador: false, ingress_object: true, ingress_class: "nginx",
  ingress_host: "helx.example.org", ingress_tls_secret: "helx-tls",
  ingress_annotations: { "cert-manager.io/cluster-issuer": "letsencrypt" },
}));
const jobs = [];
if (corpus) {
  const root = path.join(corpus, "expected", "manifests");
  const branch = { "helx-apps-develop": "helx-apps/develop", "helx-apps-develop+homedirs": "helx-apps/develop",
                   "helx-apps-helx-dev": "helx-apps/helx-dev", "tycho-builtin": "helx-apps/master" };
  const settings = { "tycho-builtin": "tycho/tycho/conf/app-registry.yaml" };
  for (const label of readdirSync(root).sort())
    for (const ctx of readdirSync(path.join(root, label)).sort()) {
      const regFile = path.join(corpus, "expected", "registry", label, `${ctx}.json`);
      const reg = JSON.parse(readFileSync(regFile, "utf8"));
      for (const f of readdirSync(path.join(root, label, ctx)).sort()) {
        const app = f.replace(/\.json$/, "");
        const exp = JSON.parse(readFileSync(path.join(root, label, ctx, f), "utf8"));
        if (exp.error || !reg[app]) continue;
        const spec = path.join(corpus, branch[label], reg[app].spec.slice(reg[app].spec.indexOf("app-specs/")));
        const set = path.join(corpus, settings[label] || `${branch[label]}/app-registry.yaml`);
        for (const pol of [[], ["--policy", path.join(tmp, "policy.json")]])
          jobs.push([`${label}/${ctx}/${app}${pol.length ? "+policy" : ""}`,
            ["-f", spec, "--apps-json", regFile, "--app", app, "--settings", set, ...pol]]);
      }
    }
}
// Every context of a registry folder, through --registry (our loader reads the
// specs beside it).  Identical resolved entries are compiled once; entries whose
// spec file is absent from the folder (a stale registry line) are skipped.
function registryJobs(name, dir) {
  const file = path.join(dir, "app-registry.yaml");
  if (!existsSync(file)) return;
  const reg = yaml.load(readFileSync(file, "utf8"));
  const seen = new Set();
  for (const ctx of Object.keys(reg.contexts || {})) {
    let apps;
    try {
      apps = JSON.parse(execFileSync(tycho, ["apps", "--registry", dir, "--context", ctx, "--json"],
        { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }));
    } catch (e) {
      jobs.push([`${name}/${ctx}`, null, `tycho apps failed: ${(e.stderr || e.message).trim()}`]);
      continue;
    }
    for (const [app, entry] of Object.entries(apps)) {
      const key = app + JSON.stringify(entry);
      if (seen.has(key) || (typeof entry.spec === "string" && !entry.spec.includes("://") &&
                            !existsSync(entry.spec)))
        continue;
      seen.add(key);
      jobs.push([`${name}/${ctx}/${app}`, ["--registry", dir, "--context", ctx, "--app", app]]);
    }
  }
}
registryJobs("registry", path.join(src, "registry"));
if (corpus)
  for (const br of readdirSync(path.join(corpus, "helx-apps")).sort())
    registryJobs(`helx-apps/${br}`, path.join(corpus, "helx-apps", br));
let objects = 0, bad = 0;
for (const [label, args, fail] of jobs) {
  const r = fail ? { errs: [`${label}: ${fail}`] } : compile(label, args);
  if (r.list) objects += r.list.items.length;
  for (const e of r.errs) console.log("INVALID " + e);
  if (r.errs.length) bad++;
}
console.log(`${jobs.length} launches compiled, ${objects} objects validated, ${bad} with errors`);
process.exit(bad || jobs.length === 0 ? 1 : 0);
