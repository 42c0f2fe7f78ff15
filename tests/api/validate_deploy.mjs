// validate_deploy.mjs - checks deploy/tycho.yaml with kubernetes-models (an
// independent validator generated from the Kubernetes OpenAPI schemas) and a
// few rules the schemas cannot express: the expected kinds are all there, the
// Role grants nothing cluster-wide or wildcard, the Deployment's selector
// matches its template and uses the ServiceAccount, volumes name the PVC and
// the ConfigMap, and the Service selects the pods.
import { createRequire } from "node:module";
import path from "node:path";
import { readFileSync } from "node:fs";

const base = process.env.K8S_MODELS_DIR;
const req = createRequire(path.join(path.resolve(base), "noop.js"));
const yaml = req("js-yaml");
const file = process.argv[2];
const docs = yaml.loadAll(readFileSync(file, "utf8")).filter((d) => d);
let bad = 0;
const fail = (m) => { console.log("INVALID " + m); bad++; };
const byKind = {};
for (const d of docs) {
  const [group, version] = d.apiVersion.includes("/") ? d.apiVersion.split("/") : [null, d.apiVersion];
  const mod = `kubernetes-models/${group ? group + "/" : ""}${version}/${d.kind}`;
  let Cls;
  try { Cls = req(mod)[d.kind]; } catch (e) { fail(`${d.kind}: no model ${mod}: ${e.message}`); continue; }
  try { new Cls(d).validate(); console.log(`OK ${d.apiVersion}/${d.kind} ${d.metadata.name}`); }
  catch (e) { fail(`${d.kind} ${d.metadata.name}: ${e.message}`); }
  byKind[d.kind] = d;
}
for (const k of ["ServiceAccount", "Role", "RoleBinding", "PersistentVolumeClaim", "ConfigMap",
                 "Deployment", "Service"])
  if (!byKind[k]) fail(`missing ${k}`);
const role = byKind.Role, rb = byKind.RoleBinding, dep = byKind.Deployment, svc = byKind.Service;
if (role) for (const r of role.rules) {
  if (r.apiGroups.includes("*") || r.resources.includes("*") || r.verbs.includes("*"))
    fail("Role uses a wildcard");
  for (const res of r.resources)
    if (!["deployments", "replicasets", "pods", "services", "persistentvolumeclaims", "secrets",
          "networkpolicies", "ingresses", "events"].includes(res))
      fail(`Role grants unexpected ${res}`);
  if (r.resources.includes("events") && r.verbs.some((v) => !["get", "list", "watch"].includes(v)))
    fail("events must be read-only");
}
if (rb && (rb.roleRef.kind !== "Role" || rb.roleRef.name !== role.metadata.name ||
           rb.subjects[0].kind !== "ServiceAccount" ||
           rb.subjects[0].name !== byKind.ServiceAccount.metadata.name))
  fail("RoleBinding does not bind the Role to the ServiceAccount");
if (dep) {
  const sel = dep.spec.selector.matchLabels, lab = dep.spec.template.metadata.labels;
  for (const k in sel) if (lab[k] !== sel[k]) fail("Deployment selector does not match its pods");
  if (dep.spec.template.spec.serviceAccountName !== byKind.ServiceAccount.metadata.name)
    fail("Deployment does not use the ServiceAccount");
  const vols = dep.spec.template.spec.volumes;
  if (!vols.some((v) => v.persistentVolumeClaim &&
                        v.persistentVolumeClaim.claimName === byKind.PersistentVolumeClaim.metadata.name))
    fail("Deployment does not mount the PVC");
  if (!vols.some((v) => v.configMap && v.configMap.name === byKind.ConfigMap.metadata.name))
    fail("Deployment does not mount the ConfigMap");
  if (svc) for (const k in svc.spec.selector)
    if (lab[k] !== svc.spec.selector[k]) fail("Service does not select the pods");
}
if (byKind.ConfigMap) process.stderr.write(""), console.log("CONFIG " +
  JSON.stringify(byKind.ConfigMap.data["tycho.yaml"]));
process.exit(bad ? 1 : 0);
