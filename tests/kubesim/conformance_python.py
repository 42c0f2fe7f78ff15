#!/usr/bin/python3
"""kubesim.conformance.python: the official Kubernetes Python client (Debian's
python3-kubernetes, with the system /usr/bin/python3) against
`tycho kube-sim --tls --token`, through the kubeconfig the simulator writes.

Each check is a function below; the run prints one line per check and a
closing "N passed, M failed".  What they cover (issue 20's list): discovery
(/api, /apis, aggregated discovery as kubectl asks for it), /version and
/version/, /openapi/v2 and /openapi/v3 for the kinds served, CRUD of every kind
tycho creates, list with limit/continue, label and field selectors, watch
(with and without bookmarks, from a resourceVersion, 410 Gone after compaction
and the re-list), merge, strategic-merge and JSON patches, the scale
subresource, generateName, 409 on a stale resourceVersion, deletion with each
propagation policy and gracePeriodSeconds, and Status bodies on errors.
"""
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

try:
    from kubernetes import client, config, watch
    from kubernetes.client.rest import ApiException
except ImportError:
    print("FAIL: the kubernetes module is missing: install python3-kubernetes "
          "(.ci/install-deps --test)", file=sys.stderr)
    sys.exit(1)

TOKEN = "conformance-python-token"
NS = "conf"
AGGREGATED = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json")


class Failure(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Failure(msg)


def status_of(e):
    """The Status body of an ApiException, checked to be one."""
    body = json.loads(e.body)
    expect(body.get("kind") == "Status" and body.get("apiVersion") == "v1",
           "error %d without a Status body: %s" % (e.status, e.body))
    expect(body.get("code") == e.status, "Status code %s for HTTP %d" % (body.get("code"), e.status))
    expect(body.get("status") == "Failure" and body.get("reason") and body.get("message"),
           "incomplete Status: %s" % e.body)
    return body


def fails(status, fn, *args, **kwargs):
    """Calls fn, which must raise ApiException with HTTP status; returns the Status."""
    try:
        fn(*args, **kwargs)
    except ApiException as e:
        expect(e.status == status, "wanted %d, got %d: %s" % (status, e.status, e.body))
        return status_of(e)
    raise Failure("wanted %d, the call succeeded" % status)


class Sim:
    def __init__(self, tycho, tmp):
        self.kubeconfig = os.path.join(tmp, "kubeconfig")
        self.proc = subprocess.Popen(
            [tycho, "kube-sim", "--listen", "127.0.0.1:0", "--tls", "--token", TOKEN,
             "--kubeconfig-out", self.kubeconfig, "--namespace", NS, "--schedule-ms", "50",
             "--start-ms", "100", "--grace-ms", "1500"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("https://127.0.0.1:"):
            self.proc.kill()
            raise SystemExit("FAIL: kube-sim printed %r: %s" % (self.url, self.proc.stderr.read()))

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return -1


class Checks:
    def __init__(self, api):
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.net = client.NetworkingV1Api(api)

    def raw(self, method, path, body=None, content_type=None, accept="application/json",
            query=None):
        """One request through the client's own transport; returns (status, json)."""
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        data, status, hdrs = self.api.call_api(
            path, method, query_params=query or [], header_params=headers, body=body,
            auth_settings=["BearerToken"], _preload_content=False, _return_http_data_only=False)
        text = data.data.decode()
        return status, (json.loads(text) if text.strip().startswith(("{", "[")) else text), hdrs

    # ---- discovery, version, OpenAPI ----

    def check_version(self):
        v = client.VersionApi(self.api).get_code()  # asks /version/
        expect(v.major == "1" and v.minor == "32", "version %s.%s" % (v.major, v.minor))
        status, body, _ = self.raw("GET", "/version")
        expect(status == 200 and body["gitVersion"] == v.git_version, "/version: %s" % body)

    def check_discovery(self):
        expect(client.CoreApi(self.api).get_api_versions().versions == ["v1"], "/api versions")
        groups = {g.name: g.preferred_version.group_version
                  for g in client.ApisApi(self.api).get_api_versions().groups}
        for g in ("apps", "networking.k8s.io"):
            expect(g in groups, "/apis lacks %s: %s" % (g, groups))
        names = {r.name: r for r in self.core.get_api_resources().resources}
        for n in ("pods", "services", "persistentvolumeclaims", "configmaps", "secrets", "events",
                  "namespaces", "pods/log"):
            expect(n in names, "/api/v1 lacks %s" % n)
        expect(names["pods"].short_names == ["po"] and names["pods"].namespaced, "pods entry")
        apps = {r.name for r in self.apps.get_api_resources().resources}
        expect({"deployments", "deployments/scale", "replicasets"} <= apps, "apps/v1: %s" % apps)
        net = {r.name for r in self.net.get_api_resources().resources}
        expect("networkpolicies" in net, "networking.k8s.io/v1: %s" % net)
        # Aggregated discovery, as kubectl asks for it.
        for path, want in (("/api", {""}), ("/apis", {"apps", "networking.k8s.io"})):
            status, body, hdrs = self.raw("GET", path, accept=AGGREGATED)
            expect(body.get("kind") == "APIGroupDiscoveryList", "%s: %s" % (path, body))
            expect("as=APIGroupDiscoveryList" in hdrs.get("Content-Type", ""),
                   "%s content type %s" % (path, hdrs.get("Content-Type")))
            got = {i["metadata"].get("name", "") for i in body["items"]}
            expect(want <= got, "%s groups %s" % (path, got))

    def check_openapi(self):
        status, v2, _ = self.raw("GET", "/openapi/v2")
        expect(status == 200 and v2["swagger"] == "2.0", "/openapi/v2")
        for d in ("io.k8s.api.core.v1.Pod", "io.k8s.api.core.v1.Service",
                  "io.k8s.api.core.v1.PersistentVolumeClaim", "io.k8s.api.core.v1.ConfigMap",
                  "io.k8s.api.core.v1.Secret", "io.k8s.api.core.v1.Namespace",
                  "io.k8s.api.apps.v1.Deployment", "io.k8s.api.apps.v1.ReplicaSet",
                  "io.k8s.api.networking.v1.NetworkPolicy", "io.k8s.api.autoscaling.v1.Scale"):
            expect(d in v2["definitions"], "/openapi/v2 lacks %s" % d)
        status, v3, _ = self.raw("GET", "/openapi/v3")
        kinds = {"api/v1": {"Pod", "Service", "PersistentVolumeClaim", "ConfigMap", "Secret",
                            "Event", "Namespace"},
                 "apis/apps/v1": {"Deployment", "ReplicaSet"},
                 "apis/networking.k8s.io/v1": {"NetworkPolicy"}}
        for gv, want in kinds.items():
            url = v3["paths"][gv]["serverRelativeURL"]
            path, _, query = url.partition("?")
            status, doc, _ = self.raw("GET", path, query=[tuple(query.split("=", 1))])
            expect(status == 200 and doc["openapi"].startswith("3."), gv)
            # What kubectl looks for: a PATCH per kind, with fieldValidation.
            patched = {item["patch"]["x-kubernetes-group-version-kind"]["kind"]
                       for item in doc["paths"].values() if "patch" in item and any(
                           p["name"] == "fieldValidation" and p["in"] == "query"
                           for p in item["patch"]["parameters"])}
            expect(want <= patched, "%s PATCH operations for %s" % (gv, patched))

    # ---- CRUD of the kinds tycho creates ----

    def check_crud(self):
        labels = {"executor": "tycho", "username": "alice"}
        long_name = "s" * 100 + "." + "t" * 100  # a DNS-1123 subdomain: 201 characters
        cases = [
            ("ConfigMap", self.core, "config_map",
             client.V1ConfigMap(metadata=client.V1ObjectMeta(name="cm1", labels=labels),
                                data={"a": "1"}), lambda o: o.data.update(b="2")),
            ("Secret", self.core, "secret",
             client.V1Secret(metadata=client.V1ObjectMeta(name=long_name, labels=labels),
                             string_data={"token": "t0k"}),
             lambda o: o.data.update(more=base64.b64encode(b"x").decode())),
            ("Service", self.core, "service",
             client.V1Service(metadata=client.V1ObjectMeta(name="svc1", labels=labels),
                              spec=client.V1ServiceSpec(
                                  selector={"app": "x"},
                                  ports=[client.V1ServicePort(port=8888, target_port=8888)])),
             lambda o: o.metadata.labels.update(extra="1")),
            ("PersistentVolumeClaim", self.core, "persistent_volume_claim",
             client.V1PersistentVolumeClaim(
                 metadata=client.V1ObjectMeta(name="claim1", labels=labels),
                 spec=client.V1PersistentVolumeClaimSpec(
                     access_modes=["ReadWriteOnce"],
                     resources=client.V1ResourceRequirements(requests={"storage": "1Gi"}))),
             lambda o: o.metadata.labels.update(extra="1")),
            ("NetworkPolicy", self.net, "network_policy",
             client.V1NetworkPolicy(
                 metadata=client.V1ObjectMeta(name="np1", labels=labels),
                 spec=client.V1NetworkPolicySpec(
                     pod_selector=client.V1LabelSelector(match_labels={"app": "x"}))),
             lambda o: o.metadata.labels.update(extra="1")),
            ("Deployment", self.apps, "deployment", deployment("web1", labels),
             lambda o: o.spec.template.metadata.labels.update(rev="2")),
        ]
        for kind, api, fn, obj, change in cases:
            created = getattr(api, "create_namespaced_" + fn)(NS, obj)
            name = created.metadata.name
            expect(created.kind == kind and created.metadata.uid and
                   created.metadata.resource_version, "%s create: %s" % (kind, created.metadata))
            got = getattr(api, "read_namespaced_" + fn)(name, NS)
            expect(got.metadata.uid == created.metadata.uid, kind + " read")
            listed = getattr(api, "list_namespaced_" + fn)(NS, label_selector="username=alice")
            expect(name in [i.metadata.name for i in listed.items], kind + " list")
            if kind == "Secret":
                expect(got.data["token"] == base64.b64encode(b"t0k").decode(), "stringData")
            # Read, change, replace; a 409 (the controller wrote the status in
            # between) means read again, as the API conventions ask of clients.
            for _ in range(10):
                change(got)
                try:
                    replaced = getattr(api, "replace_namespaced_" + fn)(name, NS, got)
                    break
                except ApiException as e:
                    expect(e.status == 409, "%s replace: %s" % (kind, e))
                    got = getattr(api, "read_namespaced_" + fn)(name, NS)
            expect(replaced.metadata.resource_version != got.metadata.resource_version,
                   kind + " replace kept the resourceVersion")
            fails(409, getattr(api, "replace_namespaced_" + fn), name, NS, got)  # stale now
            fails(409, getattr(api, "create_namespaced_" + fn), NS, obj)  # AlreadyExists
            getattr(api, "delete_namespaced_" + fn)(name, NS)
            st = fails(404, getattr(api, "read_namespaced_" + fn), name, NS)
            expect(st["reason"] == "NotFound" and st["details"]["name"] == name, str(st))
        # A namespace of its own, and a pod in it.
        self.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="other")))
        pod = self.core.create_namespaced_pod("other", client.V1Pod(
            metadata=client.V1ObjectMeta(name="p1"),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="nginx:1")])))
        expect(pod.status.phase == "Pending", "new pod phase %s" % pod.status.phase)
        fails(404, self.core.create_namespaced_config_map, "absent",
              client.V1ConfigMap(metadata=client.V1ObjectMeta(name="x")))

    # ---- lists ----

    def check_paging_and_selectors(self):
        for i in range(5):
            self.core.create_namespaced_config_map(NS, client.V1ConfigMap(
                metadata=client.V1ObjectMeta(name="page-%d" % i, labels={
                    "page": "yes", "tier": "a" if i % 2 else "b", **({"gpu": "1"} if i == 4 else {})})))
        names, token, pages = [], None, 0
        while True:
            kw = {"label_selector": "page=yes", "limit": 2}
            if token:
                kw["_continue"] = token
            lst = self.core.list_namespaced_config_map(NS, **kw)
            names += [i.metadata.name for i in lst.items]
            pages += 1
            token = lst.metadata._continue
            if not token:
                break
            expect(lst.metadata.remaining_item_count is not None, "remainingItemCount")
        expect(names == ["page-%d" % i for i in range(5)] and pages == 3,
               "paged %s in %d pages" % (names, pages))
        st = fails(410, self.core.list_namespaced_config_map, NS, limit=2, _continue="bm90IGEgdG9rZW4=")
        expect(st["reason"] == "Expired", str(st))
        sel = self.core.list_namespaced_config_map(NS, label_selector="tier in (a),page,!gpu")
        expect([i.metadata.name for i in sel.items] == ["page-1", "page-3"],
               "set-based selector: %s" % [i.metadata.name for i in sel.items])
        sel = self.core.list_namespaced_config_map(NS, field_selector="metadata.name=page-2")
        expect([i.metadata.name for i in sel.items] == ["page-2"], "field selector")
        sel = self.core.list_config_map_for_all_namespaces(label_selector="page=yes,tier!=a")
        expect(len(sel.items) == 3, "all-namespace list")
        st = fails(400, self.core.list_namespaced_config_map, NS, label_selector="tier in (a")
        expect(st["reason"] == "BadRequest", str(st))
        fails(400, self.core.list_namespaced_pod, NS, field_selector="spec.bogus=1")

    # ---- watch ----

    def check_watch(self):
        def w():  # a Watch remembers the last resourceVersion: one per stream
            return watch.Watch()
        self.core.create_namespaced_config_map(NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="w0", labels={"w": "1"})))
        # Without a resourceVersion: synthetic ADDED for what exists (watch=True on the wire).
        seen = [(e["type"], e["object"].metadata.name) for e in w().stream(
            self.core.list_namespaced_config_map, NS, label_selector="w=1", timeout_seconds=1)]
        expect(seen == [("ADDED", "w0")], "initial events %s" % seen)
        # From the list's resourceVersion: the changes after it, in order.
        rv = self.core.list_namespaced_config_map(NS, label_selector="w=1").metadata.resource_version
        self.core.create_namespaced_config_map(NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="w1", labels={"w": "1"})))
        self.core.patch_namespaced_config_map("w1", NS, {"data": {"k": "v"}})
        self.core.delete_namespaced_config_map("w1", NS)
        seen = [(e["type"], e["object"].metadata.name) for e in w().stream(
            self.core.list_namespaced_config_map, NS, label_selector="w=1", resource_version=rv,
            timeout_seconds=1)]
        expect(seen == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")],
               "events from %s: %s" % (rv, seen))
        # Bookmarks: the current resourceVersion, nothing else in the object.
        marks = [e for e in w().stream(self.core.list_namespaced_config_map, NS,
                                     label_selector="w=1", resource_version=rv,
                                     allow_watch_bookmarks=True, timeout_seconds=2)
                 if e["type"] == "BOOKMARK"]
        expect(marks and int(marks[-1]["raw_object"]["metadata"]["resourceVersion"]) >= int(rv),
               "bookmarks: %s" % [m["raw_object"] for m in marks])
        # Compaction (etcd's, here POST /_sim/compact) makes the old version 410 Gone...
        status, body, _ = self.raw("POST", "/_sim/compact", body={})
        expect(status == 200, "compact: %s" % body)
        try:
            list(w().stream(self.core.list_namespaced_config_map, NS, resource_version=rv,
                          timeout_seconds=1))
            raise Failure("watch from a compacted version did not fail")
        except ApiException as e:
            expect(e.status == 410 and "Expired" in e.reason, "watch after compaction: %s" % e)
        # ... and the client re-lists, then watches from the new version.
        rv2 = self.core.list_namespaced_config_map(NS).metadata.resource_version
        self.core.create_namespaced_config_map(NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="w2", labels={"w": "1"})))
        seen = [(e["type"], e["object"].metadata.name) for e in w().stream(
            self.core.list_namespaced_config_map, NS, resource_version=rv2, timeout_seconds=1)]
        expect(seen == [("ADDED", "w2")], "after the re-list: %s" % seen)
        # Pods reach Running through the controller; a pod watch sees it.
        self.apps.create_namespaced_deployment(NS, deployment("watched", {"app": "watched"}))
        deadline = time.time() + 15
        running = False
        while not running and time.time() < deadline:
            for e in w().stream(self.core.list_namespaced_pod, NS, label_selector="app=watched",
                              timeout_seconds=1):
                running |= e["object"].status.phase == "Running"
        expect(running, "no Running pod in the watch")

    # ---- patches, scale ----

    def check_patches_and_scale(self):
        d = self.apps.create_namespaced_deployment(NS, deployment("patched", {"app": "patched"}))
        # Strategic merge (the client's choice for a dict body): containers merge by name.
        sidecar = {"spec": {"template": {"spec": {"containers": [
            {"name": "side", "image": "busybox:1"}]}}}}
        p = self.apps.patch_namespaced_deployment("patched", NS, sidecar)
        expect([c.name for c in p.spec.template.spec.containers] == ["main", "side"],
               "strategic merge: %s" % [c.name for c in p.spec.template.spec.containers])
        # JSON patch (a list body).
        p = self.apps.patch_namespaced_deployment("patched", NS, [
            {"op": "replace", "path": "/spec/template/spec/containers/1/image",
             "value": "busybox:2"},
            {"op": "add", "path": "/metadata/labels/patched", "value": "json"}])
        expect(p.spec.template.spec.containers[1].image == "busybox:2" and
               p.metadata.labels["patched"] == "json", "json patch")
        expect(p.metadata.generation == d.metadata.generation + 2, "generation %s" %
               p.metadata.generation)

    def check_merge_patch(self):
        self.apps.create_namespaced_deployment(NS, deployment("merged", {"app": "merged"}))
        path = "/apis/apps/v1/namespaces/%s/deployments/merged" % NS
        # Merge patch (RFC 7386): lists are replaced whole, null deletes.
        status, body, _ = self.raw("PATCH", path, content_type="application/merge-patch+json",
                                   body={"metadata": {"labels": {"app": None, "m": "1"}},
                                         "spec": {"template": {"spec": {"containers": [
                                             {"name": "only", "image": "nginx:3"}]}}}})
        expect(status == 200, "merge patch %d" % status)
        expect(body["metadata"]["labels"] == {"m": "1"}, "labels %s" % body["metadata"]["labels"])
        expect([c["name"] for c in body["spec"]["template"]["spec"]["containers"]] == ["only"],
               "merge patch replaces lists")
        try:
            self.raw("PATCH", path, content_type="application/json-patch+json",
                     body=[{"op": "test", "path": "/spec/replicas", "value": 7}])
            raise Failure("a failing JSON patch test succeeded")
        except ApiException as e:
            expect(e.status == 422, "failed json patch test: %d" % e.status)
            status_of(e)
        try:
            self.raw("PATCH", path, content_type="text/plain", body="{}")
            raise Failure("an unknown patch type succeeded")
        except ApiException as e:
            expect(e.status == 415, "unknown patch type: %d" % e.status)
            status_of(e)
        # Scale subresource.
        sc = self.apps.read_namespaced_deployment_scale("merged", NS)
        expect(sc.kind == "Scale" and sc.spec.replicas == 1, "scale %s" % sc)
        sc = self.apps.patch_namespaced_deployment_scale("merged", NS, {"spec": {"replicas": 3}})
        expect(sc.spec.replicas == 3, "scale patch")
        for _ in range(10):  # the controller writes the status meanwhile: re-read on 409
            sc.spec.replicas = 2
            try:
                sc = self.apps.replace_namespaced_deployment_scale("merged", NS, sc)
                break
            except ApiException as e:
                expect(e.status == 409, "scale put: %s" % e)
                sc = self.apps.read_namespaced_deployment_scale("merged", NS)
        expect(self.apps.read_namespaced_deployment("merged", NS).spec.replicas == 2, "scale put")
        # A stale resourceVersion on the scale is a 409 too.
        stale = self.apps.read_namespaced_deployment_scale("merged", NS)
        self.apps.patch_namespaced_deployment("merged", NS, {"metadata": {"labels": {"b": "1"}}})
        stale.spec.replicas = 5
        st = fails(409, self.apps.replace_namespaced_deployment_scale, "merged", NS, stale)
        expect(st["reason"] == "Conflict", str(st))

    # ---- names, conflicts, errors ----

    def check_generate_name_and_conflicts(self):
        made = self.core.create_namespaced_secret(NS, client.V1Secret(
            metadata=client.V1ObjectMeta(generate_name="tok-"), string_data={"a": "b"}))
        expect(made.metadata.name.startswith("tok-") and len(made.metadata.name) == 9,
               "generateName %s" % made.metadata.name)
        cm = self.core.create_namespaced_config_map(NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="cas"), data={"v": "1"}))
        cm.data["v"] = "2"
        self.core.replace_namespaced_config_map("cas", NS, cm)
        cm.data["v"] = "3"
        st = fails(409, self.core.replace_namespaced_config_map, "cas", NS, cm)
        expect(st["reason"] == "Conflict" and "the object has been modified" in st["message"],
               str(st))
        st = fails(422, self.core.create_namespaced_config_map, NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="Bad_Name")))
        expect(st["reason"] == "Invalid" and st["details"]["causes"][0]["field"] == "metadata.name",
               str(st))
        st = fails(422, self.core.create_namespaced_service, NS, client.V1Service(
            metadata=client.V1ObjectMeta(name="s" * 64),
            spec=client.V1ServiceSpec(ports=[client.V1ServicePort(port=80)])))
        expect("must be no more than 63 characters" in st["message"], str(st))
        st = fails(401, client.CoreV1Api(unauthenticated(self.api)).list_namespaced_pod, NS)
        expect(st["reason"] == "Unauthorized", str(st))
        try:
            self.raw("GET", "/apis/batch/v1/namespaces/%s/jobs" % NS)
            raise Failure("an unserved resource answered")
        except ApiException as e:
            expect(e.status == 404, "unserved resource: %d" % e.status)
            status_of(e)

    # ---- deletion ----

    def check_deletion(self):
        # Background (the default): the Deployment goes at once, its pods after it.
        self.apps.create_namespaced_deployment(NS, deployment("bg", {"app": "bg"}))
        wait_pods(self.core, "app=bg", 1)
        st = self.apps.delete_namespaced_deployment("bg", NS, propagation_policy="Background")
        expect(st.status == "Success", "background delete: %s" % st)
        fails(404, self.apps.read_namespaced_deployment, "bg", NS)
        wait_pods(self.core, "app=bg", 0)
        # Foreground: the Deployment stays, with a deletionTimestamp and the
        # foregroundDeletion finalizer, until its dependents are gone.
        self.apps.create_namespaced_deployment(NS, deployment("fg", {"app": "fg"}))
        wait_pods(self.core, "app=fg", 1)
        self.apps.delete_namespaced_deployment(
            "fg", NS, body=client.V1DeleteOptions(propagation_policy="Foreground"))
        d = self.apps.read_namespaced_deployment("fg", NS)
        expect(d.metadata.deletion_timestamp and "foregroundDeletion" in d.metadata.finalizers,
               "foreground: %s" % d.metadata)
        wait_gone(lambda: self.apps.read_namespaced_deployment("fg", NS))
        wait_pods(self.core, "app=fg", 0)
        # Orphan: the ReplicaSet and pods stay, without the owner reference.
        self.apps.create_namespaced_deployment(NS, deployment("orph", {"app": "orph"}))
        wait_pods(self.core, "app=orph", 1)
        self.apps.delete_namespaced_deployment("orph", NS, propagation_policy="Orphan")
        fails(404, self.apps.read_namespaced_deployment, "orph", NS)
        time.sleep(0.5)
        rs = self.apps.list_namespaced_replica_set(NS, label_selector="app=orph").items
        expect(len(rs) == 1 and not rs[0].metadata.owner_references, "orphaned rs %s" % rs)
        # Pods: graceful (deletionTimestamp, then gone), or at once with gracePeriodSeconds=0.
        pods = wait_pods(self.core, "app=orph", 1)
        p = self.core.delete_namespaced_pod(pods[0].metadata.name, NS, grace_period_seconds=30)
        expect(p.metadata.deletion_timestamp and p.metadata.deletion_grace_period_seconds == 30,
               "graceful delete: %s" % p.metadata)
        self.core.delete_namespaced_pod(pods[0].metadata.name, NS, grace_period_seconds=0)
        fails(404, self.core.read_namespaced_pod, pods[0].metadata.name, NS)
        st = fails(422, self.apps.delete_namespaced_replica_set, rs[0].metadata.name, NS,
                   propagation_policy="Sideways")
        expect(st["reason"] == "Invalid", str(st))
        # Preconditions and collections.
        cm = self.core.create_namespaced_config_map(NS, client.V1ConfigMap(
            metadata=client.V1ObjectMeta(name="pre", labels={"del": "1"})))
        fails(409, self.core.delete_namespaced_config_map, "pre", NS,
              body=client.V1DeleteOptions(preconditions=client.V1Preconditions(
                  resource_version="1")))
        self.core.delete_collection_namespaced_config_map(NS, label_selector="del=1")
        expect(not self.core.list_namespaced_config_map(NS, label_selector="del=1").items,
               "delete collection")
        expect(cm.metadata.name == "pre", "precondition object")

    def check_events_and_logs(self):
        wait_pods(self.core, "app=watched", 1)
        evs = self.core.list_namespaced_event(NS, field_selector="reason=Scheduled").items
        expect(evs and evs[0].involved_object.kind == "Pod", "Scheduled events: %s" % evs)
        pod = self.core.list_namespaced_pod(NS, label_selector="app=watched").items[0]
        log = self.core.read_namespaced_pod_log(pod.metadata.name, NS)
        expect("simulated" in log, "log: %r" % log)


def deployment(name, labels):
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels=dict(labels)),
        spec=client.V1DeploymentSpec(
            replicas=1,
            selector=client.V1LabelSelector(match_labels=dict(labels)),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=dict(labels)),
                spec=client.V1PodSpec(containers=[client.V1Container(
                    name="main", image="nginx:1",
                    ports=[client.V1ContainerPort(container_port=80)])]))))


def unauthenticated(api):
    cfg = client.Configuration()
    cfg.host = api.configuration.host
    cfg.ssl_ca_cert = api.configuration.ssl_ca_cert
    cfg.api_key = {"authorization": "Bearer wrong"}
    return client.ApiClient(cfg)


def wait_pods(core, selector, n, timeout=15):
    deadline = time.time() + timeout
    while True:
        pods = [p for p in core.list_namespaced_pod(NS, label_selector=selector).items
                if not p.metadata.deletion_timestamp]
        if len(pods) == n and all(p.status.phase == "Running" for p in pods):
            return pods
        if time.time() > deadline:
            raise Failure("%d running pods for %s, wanted %d" % (len(pods), selector, n))
        time.sleep(0.1)


def wait_gone(read, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            read()
        except ApiException as e:
            if e.status == 404:
                return
            raise
        time.sleep(0.1)
    raise Failure("still there after %ds" % timeout)


def main():
    tycho = os.environ.get("TYCHO_BIN")
    if not tycho or not os.access(tycho, os.X_OK):
        print("FAIL: TYCHO_BIN is not set to the tycho binary", file=sys.stderr)
        return 1
    tmp = tempfile.mkdtemp(prefix="kubesim-conf-py-")
    sim = Sim(tycho, tmp)
    passed = failed = 0
    try:
        api = config.new_client_from_config(config_file=sim.kubeconfig)
        checks = Checks(api)
        names = [n for n in Checks.__dict__ if n.startswith("check_")]
        for n in names:
            try:
                getattr(checks, n)()
                passed += 1
                print("ok   " + n)
            except Exception:  # noqa: BLE001 - report every check, then fail the run
                failed += 1
                print("FAIL " + n + "\n" + traceback.format_exc(), file=sys.stderr)
    finally:
        rc = sim.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if rc != 0:
        print("FAIL: kube-sim exited %d" % rc, file=sys.stderr)
        failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
