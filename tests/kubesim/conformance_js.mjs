// conformance_js.mjs - kubesim.conformance.js: the official Kubernetes
// JavaScript client (npm @kubernetes/client-node) against
// `tycho kube-sim --tls --token`, through the kubeconfig the simulator writes.
//
// The same ground as conformance_python.py, by another client with its own
// transport (node-fetch), its own watch reader and its own way of choosing
// content types: /version and /version/, discovery (legacy and aggregated),
// /openapi/v2 and /openapi/v3, CRUD of every kind tycho creates with its
// 409s, paging with continue, label and field selectors, watch (synthetic
// ADDED, from a resourceVersion, bookmarks, 410 Gone after compaction and the
// re-list), the three patch types, the scale subresource, generateName, stale
// resourceVersion conflicts, deletion with each propagation policy and
// gracePeriodSeconds, and Status bodies on errors.  One line per check, then
// "N passed, M failed".
//
// Usage: K8S_CLIENT_DIR=DIR TYCHO_BIN=tycho node conformance_js.mjs
// (DIR holds node_modules/@kubernetes/client-node; conformance_js.sh sets it up).
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

const TOKEN = "conformance-js-token";
const NS = "conf";
const AGGREGATED =
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json";

const dir = process.env.K8S_CLIENT_DIR;
const tycho = process.env.TYCHO_BIN;
if (!dir || !tycho) {
    console.error("FAIL: set K8S_CLIENT_DIR and TYCHO_BIN");
    process.exit(1);
}
const modules = path.join(path.resolve(dir), "node_modules");
const k8s = await import(path.join(modules, "@kubernetes/client-node/dist/index.js"));
const fetch = createRequire(path.join(modules, "index.js"))("node-fetch");

class Failure extends Error {}
const expect = (cond, msg) => {
    if (!cond) throw new Failure(msg);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---- the simulator ----

async function startSim(tmp) {
    const kubeconfig = path.join(tmp, "kubeconfig");
    const proc = spawn(tycho, ["kube-sim", "--listen", "127.0.0.1:0", "--tls", "--token", TOKEN,
        "--kubeconfig-out", kubeconfig, "--namespace", NS, "--schedule-ms", "50",
        "--start-ms", "100", "--grace-ms", "1500"], { stdio: ["ignore", "pipe", "inherit"] });
    const line = await new Promise((resolve) => {
        createInterface(proc.stdout).once("line", resolve);
        proc.once("exit", () => resolve(""));
    });
    if (!line.startsWith("https://127.0.0.1:")) {
        proc.kill();
        throw new Error(`kube-sim printed ${JSON.stringify(line)}`);
    }
    return { proc, kubeconfig };
}

async function stopSim(sim) {
    const exited = new Promise((resolve) => sim.proc.once("exit", (code) => resolve(code)));
    sim.proc.kill("SIGTERM");
    const timer = setTimeout(() => sim.proc.kill("SIGKILL"), 10000);
    const code = await exited;
    clearTimeout(timer);
    return code;
}

// ---- helpers ----

function statusOf(e) {
    expect(e instanceof k8s.ApiException, `not an ApiException: ${e}`);
    const body = typeof e.body === "string" ? JSON.parse(e.body) : e.body;
    expect(body && body.kind === "Status" && body.apiVersion === "v1",
        `error ${e.code} without a Status body: ${JSON.stringify(e.body)}`);
    expect(body.code === e.code && body.status === "Failure" && body.reason && body.message,
        `incomplete Status for ${e.code}: ${JSON.stringify(body)}`);
    return body;
}

async function fails(code, promise) {
    try {
        await promise;
    } catch (e) {
        expect(e.code === code, `wanted ${code}, got ${e.code}: ${e.message}`);
        return statusOf(e);
    }
    throw new Failure(`wanted ${code}, the call succeeded`);
}

function deployment(name, labels) {
    return {
        metadata: { name, labels: { ...labels } },
        spec: {
            replicas: 1,
            selector: { matchLabels: { ...labels } },
            template: {
                metadata: { labels: { ...labels } },
                spec: { containers: [{ name: "main", image: "nginx:1",
                    ports: [{ containerPort: 80 }] }] },
            },
        },
    };
}

const patchAs = (type) => k8s.setHeaderOptions("Content-Type", type);

class Checks {
    constructor(kc) {
        this.kc = kc;
        this.core = kc.makeApiClient(k8s.CoreV1Api);
        this.apps = kc.makeApiClient(k8s.AppsV1Api);
        this.net = kc.makeApiClient(k8s.NetworkingV1Api);
        this.server = kc.getCurrentCluster().server;
    }

    // A request through the client's own credentials and CA.
    async raw(method, p, { body, contentType, accept = "application/json" } = {}) {
        const opts = await this.kc.applyToFetchOptions({});
        opts.method = method;
        opts.headers.set("Accept", accept);
        if (body !== undefined) {
            opts.body = typeof body === "string" ? body : JSON.stringify(body);
            opts.headers.set("Content-Type", contentType || "application/json");
        }
        const res = await fetch(this.server + p, opts);
        const text = await res.text();
        let json = null;
        try {
            json = JSON.parse(text);
        } catch {
            // not JSON
        }
        return { status: res.status, json, headers: res.headers };
    }

    // Collects the events of one watch until the server ends it (timeoutSeconds).
    watch(p, query) {
        return new Promise((resolve, reject) => {
            const events = [];
            new k8s.Watch(this.kc).watch(p, { timeoutSeconds: 1, ...query },
                (type, obj) => events.push({ type, obj }),
                (err) => (err ? reject(err) : resolve(events))).catch(reject);
        });
    }

    async waitPods(selector, n) {
        const deadline = Date.now() + 15000;
        for (;;) {
            const pods = (await this.core.listNamespacedPod({ namespace: NS,
                labelSelector: selector })).items.filter((p) => !p.metadata.deletionTimestamp);
            if (pods.length === n && pods.every((p) => p.status.phase === "Running")) return pods;
            expect(Date.now() < deadline, `${pods.length} running pods for ${selector}, want ${n}`);
            await sleep(100);
        }
    }

    async waitGone(read) {
        const deadline = Date.now() + 15000;
        while (Date.now() < deadline) {
            try {
                await read();
            } catch (e) {
                if (e.code === 404) return;
                throw e;
            }
            await sleep(100);
        }
        throw new Failure("still there after 15 s");
    }

    // ---- checks ----

    async check_version() {
        const v = await this.kc.makeApiClient(k8s.VersionApi).getCode(); // asks /version/
        expect(v.major === "1" && v.minor === "32", `version ${v.major}.${v.minor}`);
        const r = await this.raw("GET", "/version");
        expect(r.status === 200 && r.json.gitVersion === v.gitVersion, "/version");
    }

    async check_discovery() {
        const api = await this.kc.makeApiClient(k8s.CoreApi).getAPIVersions();
        expect(api.versions.join() === "v1", `/api: ${api.versions}`);
        const apis = await this.kc.makeApiClient(k8s.ApisApi).getAPIVersions();
        const groups = apis.groups.map((g) => g.name);
        expect(groups.includes("apps") && groups.includes("networking.k8s.io"), `/apis ${groups}`);
        const core = (await this.core.getAPIResources()).resources.map((r) => r.name);
        for (const n of ["pods", "services", "persistentvolumeclaims", "configmaps", "secrets",
            "events", "namespaces"])
            expect(core.includes(n), `/api/v1 lacks ${n}`);
        const apps = (await this.apps.getAPIResources()).resources.map((r) => r.name);
        expect(apps.includes("deployments/scale"), `apps/v1 ${apps}`);
        for (const [p, want] of [["/api", [""]], ["/apis", ["apps", "networking.k8s.io"]]]) {
            const r = await this.raw("GET", p, { accept: AGGREGATED });
            expect(r.json.kind === "APIGroupDiscoveryList" &&
                r.headers.get("content-type").includes("as=APIGroupDiscoveryList"), `${p} kind`);
            const got = r.json.items.map((i) => i.metadata.name || "");
            for (const g of want) expect(got.includes(g), `${p} lacks group ${JSON.stringify(g)}`);
        }
    }

    async check_openapi() {
        const v2 = await this.raw("GET", "/openapi/v2");
        expect(v2.status === 200 && v2.json.swagger === "2.0", "/openapi/v2");
        for (const d of ["io.k8s.api.core.v1.Pod", "io.k8s.api.core.v1.Secret",
            "io.k8s.api.apps.v1.Deployment", "io.k8s.api.networking.v1.NetworkPolicy"])
            expect(d in v2.json.definitions, `/openapi/v2 lacks ${d}`);
        const v3 = await this.raw("GET", "/openapi/v3");
        const wants = { "api/v1": ["Pod", "Service", "ConfigMap", "Secret", "Namespace",
            "PersistentVolumeClaim", "Event"], "apis/apps/v1": ["Deployment", "ReplicaSet"],
        "apis/networking.k8s.io/v1": ["NetworkPolicy"] };
        for (const [gv, kinds] of Object.entries(wants)) {
            const doc = await this.raw("GET", v3.json.paths[gv].serverRelativeURL);
            expect(doc.status === 200 && doc.json.openapi.startsWith("3."), gv);
            const patched = Object.values(doc.json.paths).filter((i) => i.patch &&
                i.patch.parameters.some((p) => p.name === "fieldValidation" && p.in === "query"))
                .map((i) => i.patch["x-kubernetes-group-version-kind"].kind);
            for (const k of kinds) expect(patched.includes(k), `${gv}: no PATCH for ${k}`);
        }
        const proto = await this.raw("GET", "/openapi/v2",
            { accept: "application/com.github.proto-openapi.spec.v2@v1.0+protobuf" });
        expect(proto.status === 406 && proto.json.kind === "Status", "protobuf only: 406");
    }

    async check_crud() {
        const labels = { executor: "tycho", username: "alice" };
        const longName = "s".repeat(100) + "." + "t".repeat(100);
        const kinds = [
            ["ConfigMap", this.core, "ConfigMap", { metadata: { name: "cm1", labels },
                data: { a: "1" } }, (o) => { o.data.b = "2"; }],
            ["Secret", this.core, "Secret", { metadata: { name: longName, labels },
                stringData: { token: "t0k" } }, (o) => { o.data.more = "eA=="; }],
            ["Service", this.core, "Service", { metadata: { name: "svc1", labels },
                spec: { selector: { app: "x" }, ports: [{ port: 8888, targetPort: 8888 }] } },
            (o) => { o.metadata.labels.extra = "1"; }],
            ["PersistentVolumeClaim", this.core, "PersistentVolumeClaim",
                { metadata: { name: "claim1", labels }, spec: { accessModes: ["ReadWriteOnce"],
                    resources: { requests: { storage: "1Gi" } } } },
                (o) => { o.metadata.labels.extra = "1"; }],
            ["NetworkPolicy", this.net, "NetworkPolicy", { metadata: { name: "np1", labels },
                spec: { podSelector: { matchLabels: { app: "x" } } } },
            (o) => { o.metadata.labels.extra = "1"; }],
            ["Deployment", this.apps, "Deployment", deployment("web1", labels),
                (o) => { o.spec.template.metadata.labels.rev = "2"; }],
        ];
        for (const [kind, api, fn, obj, change] of kinds) {
            const created = await api[`createNamespaced${fn}`]({ namespace: NS, body: obj });
            const name = created.metadata.name;
            expect(created.kind === kind && created.metadata.uid, `${kind} create`);
            let got = await api[`readNamespaced${fn}`]({ name, namespace: NS });
            expect(got.metadata.uid === created.metadata.uid, `${kind} read`);
            const list = await api[`listNamespaced${fn}`]({ namespace: NS,
                labelSelector: "username=alice" });
            expect(list.items.some((i) => i.metadata.name === name), `${kind} list`);
            if (kind === "Secret")
                expect(got.data.token === Buffer.from("t0k").toString("base64"), "stringData");
            let replaced;
            for (let i = 0; i < 10 && !replaced; i++) { // re-read on 409 (controller writes)
                change(got);
                try {
                    replaced = await api[`replaceNamespaced${fn}`]({ name, namespace: NS,
                        body: got });
                } catch (e) {
                    expect(e.code === 409, `${kind} replace: ${e.message}`);
                    got = await api[`readNamespaced${fn}`]({ name, namespace: NS });
                }
            }
            expect(replaced.metadata.resourceVersion !== got.metadata.resourceVersion,
                `${kind} replace kept the resourceVersion`);
            await fails(409, api[`replaceNamespaced${fn}`]({ name, namespace: NS, body: got }));
            const st = await fails(409, api[`createNamespaced${fn}`]({ namespace: NS, body: obj }));
            expect(st.reason === "AlreadyExists", `${kind} twice: ${st.reason}`);
            await api[`deleteNamespaced${fn}`]({ name, namespace: NS });
            const nf = await fails(404, api[`readNamespaced${fn}`]({ name, namespace: NS }));
            expect(nf.reason === "NotFound" && nf.details.name === name, JSON.stringify(nf));
        }
        await this.core.createNamespace({ body: { metadata: { name: "other-js" } } });
        await fails(404, this.core.createNamespacedConfigMap({ namespace: "absent",
            body: { metadata: { name: "x" } } }));
    }

    async check_paging_and_selectors() {
        for (let i = 0; i < 5; i++) {
            const labels = { page: "yes", tier: i % 2 ? "a" : "b", ...(i === 4 ? { gpu: "1" } : {}) };
            await this.core.createNamespacedConfigMap({ namespace: NS,
                body: { metadata: { name: `page-${i}`, labels } } });
        }
        const names = [];
        let token;
        let pages = 0;
        do {
            const lst = await this.core.listNamespacedConfigMap({ namespace: NS,
                labelSelector: "page=yes", limit: 2, _continue: token });
            names.push(...lst.items.map((i) => i.metadata.name));
            token = lst.metadata._continue;
            pages++;
        } while (token);
        expect(names.join() === "page-0,page-1,page-2,page-3,page-4" && pages === 3,
            `paged ${names} in ${pages}`);
        const st = await fails(410, this.core.listNamespacedConfigMap({ namespace: NS, limit: 2,
            _continue: "bm90IGEgdG9rZW4=" }));
        expect(st.reason === "Expired", st.reason);
        const sel = await this.core.listNamespacedConfigMap({ namespace: NS,
            labelSelector: "tier in (a),page,!gpu" });
        expect(sel.items.map((i) => i.metadata.name).join() === "page-1,page-3", "set-based");
        const f = await this.core.listNamespacedConfigMap({ namespace: NS,
            fieldSelector: "metadata.name=page-2" });
        expect(f.items.length === 1 && f.items[0].metadata.name === "page-2", "field selector");
        await fails(400, this.core.listNamespacedConfigMap({ namespace: NS,
            labelSelector: "tier in (a" }));
    }

    async check_watch() {
        const p = `/api/v1/namespaces/${NS}/configmaps`;
        await this.core.createNamespacedConfigMap({ namespace: NS,
            body: { metadata: { name: "w0", labels: { w: "1" } } } });
        let ev = await this.watch(p, { labelSelector: "w=1" });
        expect(ev.map((e) => `${e.type}:${e.obj.metadata.name}`).join() === "ADDED:w0",
            `initial ${ev.map((e) => e.type)}`);
        const rv = (await this.core.listNamespacedConfigMap({ namespace: NS, labelSelector: "w=1" }))
            .metadata.resourceVersion;
        await this.core.createNamespacedConfigMap({ namespace: NS,
            body: { metadata: { name: "w1", labels: { w: "1" } } } });
        await this.core.patchNamespacedConfigMap({ name: "w1", namespace: NS,
            body: { data: { k: "v" } } }, patchAs(k8s.PatchStrategy.MergePatch));
        await this.core.deleteNamespacedConfigMap({ name: "w1", namespace: NS });
        ev = await this.watch(p, { labelSelector: "w=1", resourceVersion: rv });
        expect(ev.map((e) => `${e.type}:${e.obj.metadata.name}`).join() ===
            "ADDED:w1,MODIFIED:w1,DELETED:w1", `from ${rv}: ${ev.map((e) => e.type)}`);
        ev = await this.watch(p, { labelSelector: "w=1", resourceVersion: rv,
            allowWatchBookmarks: true, timeoutSeconds: 2 });
        const marks = ev.filter((e) => e.type === "BOOKMARK");
        expect(marks.length && Number(marks.at(-1).obj.metadata.resourceVersion) >= Number(rv),
            "no BOOKMARK");
        const c = await this.raw("POST", "/_sim/compact", { body: {} });
        expect(c.status === 200, "compact");
        ev = await this.watch(p, { resourceVersion: rv });
        expect(ev.length === 1 && ev[0].type === "ERROR" && ev[0].obj.code === 410 &&
            ev[0].obj.reason === "Expired", `after compaction: ${JSON.stringify(ev)}`);
        const rv2 = (await this.core.listNamespacedConfigMap({ namespace: NS }))
            .metadata.resourceVersion;
        await this.core.createNamespacedConfigMap({ namespace: NS,
            body: { metadata: { name: "w2", labels: { w: "1" } } } });
        ev = await this.watch(p, { resourceVersion: rv2 });
        expect(ev.map((e) => `${e.type}:${e.obj.metadata.name}`).join() === "ADDED:w2",
            "after the re-list");
        // The informer (list, then watch from the list's version) sees pods run.
        await this.apps.createNamespacedDeployment({ namespace: NS,
            body: deployment("watched", { app: "watched" }) });
        const informer = k8s.makeInformer(this.kc, `/api/v1/namespaces/${NS}/pods`,
            () => this.core.listNamespacedPod({ namespace: NS, labelSelector: "app=watched" }),
            "app=watched");
        const running = new Promise((resolve) => {
            informer.on("update", (pod) => pod.status.phase === "Running" && resolve(true));
            informer.on("add", (pod) => pod.status.phase === "Running" && resolve(true));
            setTimeout(() => resolve(false), 15000);
        });
        await informer.start();
        const ok = await running;
        await informer.stop();
        expect(ok, "the informer saw no Running pod");
    }

    async check_patches_and_scale() {
        const d = await this.apps.createNamespacedDeployment({ namespace: NS,
            body: deployment("patched", { app: "patched" }) });
        let p = await this.apps.patchNamespacedDeployment({ name: "patched", namespace: NS,
            body: { spec: { template: { spec: { containers: [{ name: "side", image: "b:1" }] } } } } },
        patchAs(k8s.PatchStrategy.StrategicMergePatch));
        expect(p.spec.template.spec.containers.map((x) => x.name).join() === "main,side",
            "strategic merge merges containers by name");
        p = await this.apps.patchNamespacedDeployment({ name: "patched", namespace: NS, body: [
            { op: "replace", path: "/spec/template/spec/containers/1/image", value: "b:2" },
            { op: "add", path: "/metadata/labels/j", value: "1" }] },
        patchAs(k8s.PatchStrategy.JsonPatch));
        expect(p.spec.template.spec.containers[1].image === "b:2" && p.metadata.labels.j === "1",
            "json patch");
        p = await this.apps.patchNamespacedDeployment({ name: "patched", namespace: NS,
            body: { metadata: { labels: { j: null } },
                spec: { template: { spec: { containers: [{ name: "only", image: "c:1" }] } } } } },
        patchAs(k8s.PatchStrategy.MergePatch));
        expect(!("j" in p.metadata.labels) &&
            p.spec.template.spec.containers.map((x) => x.name).join() === "only",
        "merge patch replaces lists and deletes with null");
        expect(p.metadata.generation === d.metadata.generation + 3, `generation ${p.metadata.generation}`);
        await fails(422, this.apps.patchNamespacedDeployment({ name: "patched", namespace: NS,
            body: [{ op: "test", path: "/spec/replicas", value: 7 }] },
        patchAs(k8s.PatchStrategy.JsonPatch)));
        let sc = await this.apps.readNamespacedDeploymentScale({ name: "patched", namespace: NS });
        expect(sc.kind === "Scale" && sc.spec.replicas === 1, "scale");
        sc = await this.apps.patchNamespacedDeploymentScale({ name: "patched", namespace: NS,
            body: { spec: { replicas: 3 } } }, patchAs(k8s.PatchStrategy.MergePatch));
        expect(sc.spec.replicas === 3, "scale patch");
        const stale = await this.apps.readNamespacedDeploymentScale({ name: "patched",
            namespace: NS });
        await this.apps.patchNamespacedDeployment({ name: "patched", namespace: NS,
            body: { metadata: { labels: { b: "1" } } } }, patchAs(k8s.PatchStrategy.MergePatch));
        stale.spec.replicas = 5;
        const st = await fails(409, this.apps.replaceNamespacedDeploymentScale({ name: "patched",
            namespace: NS, body: stale }));
        expect(st.reason === "Conflict", st.reason);
    }

    async check_names_and_errors() {
        const s = await this.core.createNamespacedSecret({ namespace: NS,
            body: { metadata: { generateName: "tok-" }, stringData: { a: "b" } } });
        expect(/^tok-[a-z0-9]{5}$/.test(s.metadata.name), `generateName ${s.metadata.name}`);
        let st = await fails(422, this.core.createNamespacedConfigMap({ namespace: NS,
            body: { metadata: { name: "Bad_Name" } } }));
        expect(st.reason === "Invalid" && st.details.causes[0].field === "metadata.name", "422");
        st = await fails(422, this.core.createNamespacedService({ namespace: NS,
            body: { metadata: { name: "s".repeat(64) }, spec: { ports: [{ port: 80 }] } } }));
        expect(st.message.includes("must be no more than 63 characters"), st.message);
        // A wrong token: the typed client drops a 401's body, so look at it directly.
        const bad = new k8s.KubeConfig();
        bad.loadFromString(JSON.stringify({ ...JSON.parse(this.kc.exportConfig()),
            users: [{ name: this.kc.getCurrentUser().name, user: { token: "wrong" } }] }));
        try {
            await bad.makeApiClient(k8s.CoreV1Api).listNamespacedPod({ namespace: NS });
            throw new Failure("a wrong token was let in");
        } catch (e) {
            expect(e.code === 401, `wrong token: ${e.message}`);
        }
        const opts = await bad.applyToFetchOptions({});
        const res = await fetch(`${this.server}/api/v1/namespaces/${NS}/pods`, opts);
        const body = await res.json();
        expect(res.status === 401 && body.kind === "Status" && body.reason === "Unauthorized" &&
            body.code === 401, `401 body ${JSON.stringify(body)}`);
        const r = await this.raw("GET", `/apis/batch/v1/namespaces/${NS}/jobs`);
        expect(r.status === 404 && r.json.kind === "Status", "unserved resource");
    }

    async check_deletion() {
        await this.apps.createNamespacedDeployment({ namespace: NS,
            body: deployment("bg", { app: "bg" }) });
        await this.waitPods("app=bg", 1);
        const st = await this.apps.deleteNamespacedDeployment({ name: "bg", namespace: NS,
            propagationPolicy: "Background" });
        expect(st.status === "Success", "background delete");
        await this.waitPods("app=bg", 0);
        await this.apps.createNamespacedDeployment({ namespace: NS,
            body: deployment("fg", { app: "fg" }) });
        await this.waitPods("app=fg", 1);
        await this.apps.deleteNamespacedDeployment({ name: "fg", namespace: NS,
            body: { propagationPolicy: "Foreground" } });
        const d = await this.apps.readNamespacedDeployment({ name: "fg", namespace: NS });
        expect(d.metadata.deletionTimestamp && d.metadata.finalizers.includes("foregroundDeletion"),
            "foreground keeps the owner with its finalizer");
        await this.waitGone(() => this.apps.readNamespacedDeployment({ name: "fg", namespace: NS }));
        await this.apps.createNamespacedDeployment({ namespace: NS,
            body: deployment("orph", { app: "orph" }) });
        const pods = await this.waitPods("app=orph", 1);
        await this.apps.deleteNamespacedDeployment({ name: "orph", namespace: NS,
            propagationPolicy: "Orphan" });
        await sleep(500);
        const rs = (await this.apps.listNamespacedReplicaSet({ namespace: NS,
            labelSelector: "app=orph" })).items;
        expect(rs.length === 1 && !rs[0].metadata.ownerReferences, "orphaned ReplicaSet");
        const name = pods[0].metadata.name;
        const p = await this.core.deleteNamespacedPod({ name, namespace: NS,
            gracePeriodSeconds: 30 });
        expect(p.metadata.deletionTimestamp && p.metadata.deletionGracePeriodSeconds === 30,
            "graceful pod delete");
        await this.core.deleteNamespacedPod({ name, namespace: NS, gracePeriodSeconds: 0 });
        await fails(404, this.core.readNamespacedPod({ name, namespace: NS }));
        await fails(422, this.apps.deleteNamespacedReplicaSet({ name: rs[0].metadata.name,
            namespace: NS, propagationPolicy: "Sideways" }));
        await this.core.createNamespacedConfigMap({ namespace: NS,
            body: { metadata: { name: "pre", labels: { del: "1" } } } });
        await fails(409, this.core.deleteNamespacedConfigMap({ name: "pre", namespace: NS,
            body: { preconditions: { resourceVersion: "1" } } }));
        await this.core.deleteCollectionNamespacedConfigMap({ namespace: NS,
            labelSelector: "del=1" });
        const left = await this.core.listNamespacedConfigMap({ namespace: NS,
            labelSelector: "del=1" });
        expect(left.items.length === 0, "delete collection");
    }
}

const tmp = mkdtempSync(path.join(tmpdir(), "kubesim-conf-js-"));
const sim = await startSim(tmp);
let passed = 0;
let failed = 0;
try {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(sim.kubeconfig);
    const checks = new Checks(kc);
    const names = Object.getOwnPropertyNames(Checks.prototype).filter((n) => n.startsWith("check_"));
    for (const n of names) {
        try {
            await checks[n]();
            passed++;
            console.log(`ok   ${n}`);
        } catch (e) {
            failed++;
            console.error(`FAIL ${n}: ${e instanceof Failure ? e.message : e.stack}`);
        }
    }
} finally {
    const code = await stopSim(sim);
    rmSync(tmp, { recursive: true, force: true });
    if (code !== 0) {
        console.error(`FAIL: kube-sim exited ${code}`);
        failed++;
    }
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
