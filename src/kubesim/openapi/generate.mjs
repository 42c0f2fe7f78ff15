#!/usr/bin/env node
// generate.mjs - writes src/kubesim/openapi/schemas.json, the OpenAPI v2
// definitions the simulated cluster serves at /openapi/v2 and /openapi/v3 and
// checks fieldValidation against.
//
// The source is the npm package kubernetes-models 3.1.0: the Kubernetes
// 1.22.0 OpenAPI definitions, as JSON Schemas (its later versions ship them
// compiled into validators only).  Each schema module registers itself and
// what it refers to with @kubernetes-models/validate's register(); this script
// catches those calls for the kinds the simulator serves, and turns the JSON
// Schemas back into OpenAPI definitions: `$ref: "X#"` becomes
// `#/definitions/X`, the `oneOf [X, null]` and `nullable` of optional fields
// go, a string-or-integer becomes `format: int-or-string` as in Kubernetes'
// own document, and a number-or-string Quantity a string.  It adds the
// extensions Kubernetes puts on them: x-kubernetes-group-version-kind on the
// kinds, and the patch merge keys of the lists the simulator's strategic merge
// patch merges by key (kubesim_patch.c).  Descriptions are not in the source.
//
// Usage: K8S_MODELS_3_DIR=DIR node generate.mjs [OUT]   (DIR holds
// node_modules/kubernetes-models at 3.1.0; OUT defaults to schemas.json beside
// this file; "-" writes to stdout).  tests/kubesim/openapi_test.sh runs it and
// compares with the committed file.
import { createRequire } from "node:module";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const dir = process.env.K8S_MODELS_3_DIR;
if (!dir) {
    console.error("generate.mjs: set K8S_MODELS_3_DIR to a directory with kubernetes-models@3.1.0");
    process.exit(2);
}
// Modules are loaded by file name: the packages' "exports" maps hide _schemas/.
const modules = path.join(path.resolve(dir), "node_modules");
const require = createRequire(path.join(modules, "index.js"));
const load = (name) => require(path.join(modules, name));
const pkg = JSON.parse(readFileSync(path.join(modules, "kubernetes-models/package.json"), "utf8"));
if (pkg.version !== "3.1.0") {
    console.error(`generate.mjs: kubernetes-models is ${pkg.version}, want 3.1.0`);
    process.exit(2);
}

// Catch every register(id, schema) the schema modules make.
const caught = new Map();
const ajvModule = load("@kubernetes-models/validate/dist/ajv.js");
ajvModule.register = (id, schema) => {
    if (!caught.has(id)) caught.set(id, schema);
};

// The kinds served (kubesim_int.h ks_resources), their lists, and the
// meta types their operations use.  [module, group, version, kind]
const kinds = [
    ["IoK8sApiCoreV1Pod", "", "v1", "Pod"],
    ["IoK8sApiCoreV1Service", "", "v1", "Service"],
    ["IoK8sApiCoreV1PersistentVolumeClaim", "", "v1", "PersistentVolumeClaim"],
    ["IoK8sApiCoreV1ConfigMap", "", "v1", "ConfigMap"],
    ["IoK8sApiCoreV1Secret", "", "v1", "Secret"],
    ["IoK8sApiCoreV1Event", "", "v1", "Event"],
    ["IoK8sApiCoreV1Namespace", "", "v1", "Namespace"],
    ["IoK8sApiAppsV1Deployment", "apps", "v1", "Deployment"],
    ["IoK8sApiAppsV1ReplicaSet", "apps", "v1", "ReplicaSet"],
    ["IoK8sApiNetworkingV1NetworkPolicy", "networking.k8s.io", "v1", "NetworkPolicy"],
];
const roots = [];
for (const [mod, group, version, kind] of kinds) {
    roots.push([`kubernetes-models/_schemas/${mod}.js`, group, version, kind]);
    roots.push([`kubernetes-models/_schemas/${mod}List.js`, group, version, kind + "List"]);
}
roots.push(["kubernetes-models/_schemas/IoK8sApiAutoscalingV1Scale.js", "autoscaling", "v1", "Scale"]);
for (const m of ["Status", "DeleteOptions", "WatchEvent", "Patch", "APIResourceList", "APIGroupList"]) {
    roots.push([`@kubernetes-models/apimachinery/_schemas/IoK8sApimachineryPkgApisMetaV1${m}.js`,
        "", "v1", m]);
}

const gvk = new Map(); // definition id -> {group, kind, version}
for (const [mod, group, version, kind] of roots) {
    const before = new Set(caught.keys());
    load(mod).addSchema();
    const added = [...caught.keys()].filter((k) => !before.has(k));
    const id = added[added.length - 1]; // a module registers its dependencies first
    if (!id || !id.endsWith("." + kind)) {
        console.error(`generate.mjs: ${mod} registered ${id}, not ${kind}`);
        process.exit(1);
    }
    if (!id.startsWith("io.k8s.apimachinery"))
        gvk.set(id, { group, kind, version });
}

const ref = (id) => ({ $ref: "#/definitions/" + id.replace(/#$/, "") });

function convert(s) {
    if (Array.isArray(s)) return s.map(convert);
    if (!s || typeof s !== "object") return s;
    if (s.$ref) return ref(s.$ref);
    if (Array.isArray(s.oneOf)) {
        const alts = s.oneOf.filter((a) => a.type !== "null");
        if (alts.length === 1 && s.oneOf.length === 2) return convert(alts[0]);
        const types = alts.map((a) => a.type).sort().join(",");
        if (types === "integer,string") return { type: "string", format: "int-or-string" };
        if (types === "number,string") return { type: "string" };
        console.error("generate.mjs: unexpected oneOf " + JSON.stringify(s));
        process.exit(1);
    }
    const out = {};
    for (const [k, v] of Object.entries(s)) {
        if (k === "nullable") continue;
        if (k === "enum" && s.type === "string" && v.length === 1) continue; // apiVersion, kind
        out[k] = k === "properties"
            ? Object.fromEntries(Object.entries(v).map(([p, ps]) => [p, convert(ps)]))
            : convert(v);
    }
    if (Array.isArray(out.type)) out.type = out.type.filter((t) => t !== "null")[0];
    // Kubernetes' own definitions require neither apiVersion nor kind.
    if (Array.isArray(out.required)) {
        out.required = out.required.filter((p) => p !== "apiVersion" && p !== "kind");
        if (!out.required.length) delete out.required;
    }
    return out;
}

// The lists a strategic merge patch merges by key, as kubesim_patch.c does.
const byName = new Set(["containers", "initContainers", "ephemeralContainers", "env", "volumes",
    "imagePullSecrets"]);
function mergeKey(prop, schema) {
    if (schema.type !== "array") return null;
    if (byName.has(prop)) return "name";
    if (prop === "volumeMounts") return "mountPath";
    const item = schema.items && schema.items.$ref;
    if (prop === "ports" && item === "#/definitions/io.k8s.api.core.v1.ContainerPort")
        return "containerPort";
    if (prop === "ports" && item === "#/definitions/io.k8s.api.core.v1.ServicePort") return "port";
    return null;
}

const definitions = {};
for (const id of [...caught.keys()].sort()) {
    const d = convert(caught.get(id));
    for (const [p, ps] of Object.entries(d.properties || {})) {
        const mk = mergeKey(p, ps);
        if (mk) {
            ps["x-kubernetes-patch-merge-key"] = mk;
            ps["x-kubernetes-patch-strategy"] = "merge";
        }
    }
    if (gvk.has(id)) d["x-kubernetes-group-version-kind"] = [gvk.get(id)];
    definitions[id] = d;
}

const doc = {
    source: "kubernetes-models 3.1.0 (Kubernetes 1.22.0), by src/kubesim/openapi/generate.mjs",
    definitions,
};
const text = JSON.stringify(doc, null, 1) + "\n";
const out = process.argv[2] || path.join(here, "schemas.json");
if (out === "-") process.stdout.write(text);
else writeFileSync(out, text);
