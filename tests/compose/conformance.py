#!/usr/bin/env python3
"""Conformance of `tycho compile` with the real Tycho's manifests.

For every app under $TYCHO_CONFORMANCE_CORPUS/expected/manifests/<label>/<ctx>/<app>.json
(twice for helx-apps registries: from the spec file + resolved entry, and through
`--registry` so our registry loader resolves it)
this compiles the same launch (the corpus README's fixed inputs: identifier
0123456789abcdef0123456789abcdef, user alice, host helx.example.org, token TOKEN,
appstore's resource request) and compares, field by field, the Deployment and
Services with Tycho's: image, command, env names and values, ports, mounts,
resource limits and requests, probes, labels, security context, service
account, Ambassador mapping.

Each allowed difference is encoded below with a comment naming its bullet in
docs/compat.md ("Compose specs and manifests").  Anything else fails.

Skips (exit 77) when TYCHO_CONFORMANCE_CORPUS is unset, unless CI=true.
Python 3 standard library only.
"""
import json
import os
import subprocess
import sys
import tempfile

GUID = "0123456789abcdef0123456789abcdef"
USER = "alice"
HOST = "helx.example.org"
TOKEN = "TOKEN"
# PVCs the corpus's fake cluster reported (corpus README, expected/).
EXISTING_PVCS = {"projects-pvc", "cloud-top", "nfsrods", "stdnfs",
                 "eduhelx-sandbox-projects-pvc", "projects"}
LABEL_BRANCH = {
    "helx-apps-develop": "helx-apps/develop",
    "helx-apps-develop+homedirs": "helx-apps/develop",
    "helx-apps-helx-dev": "helx-apps/helx-dev",
    "tycho-builtin": "helx-apps/master",
}
LABEL_SETTINGS = {
    "helx-apps-develop": "helx-apps/develop/app-registry.yaml",
    "helx-apps-develop+homedirs": "helx-apps/develop/app-registry.yaml",
    "helx-apps-helx-dev": "helx-apps/helx-dev/app-registry.yaml",
    "tycho-builtin": "tycho/tycho/conf/app-registry.yaml",
}
# CREATE_HOME_DIRS=true PARENT_DIR=/home GITEA_HOST=gitea.example.org GITEA_USER=git
# GITEA_SERVICE_NAME=gitea-ssh, as the corpus README says for this label.
LABEL_POLICY = {
    "helx-apps-develop+homedirs": {"init_home_dirs": True, "gitea_host": "gitea.example.org",
                                   "gitea_user": "git", "gitea_service": "gitea-ssh"},
}
TIMING = ("initialDelaySeconds", "periodSeconds", "failureThreshold")


class Mismatch(Exception):
    pass


def py_float_str(x):
    """str(float(x)) as Python prints it."""
    return repr(float(x))


def appstore_request(spec_limits):
    """appstore's ResourceRequest: limits from the spec, cpus as float,
    reservations cpus=min(0.5, cpus), memory halved with a 100M floor, gpus 0."""
    cpus = float(spec_limits.get("cpus", 1))
    mem = str(spec_limits.get("memory", "2G"))
    num = "".join(ch for ch in mem if ch.isdigit() or ch == ".")
    suf = mem[len(num):]
    half = float(num) / 2
    if suf in ("M", "") and half < 100:
        half = 100
    half_s = str(int(half)) if half == int(half) else str(half)
    return ({"cpu": py_float_str(cpus), "memory": mem, "gpu": "0"},
            {"cpu": py_float_str(min(0.5, cpus)), "memory": half_s + suf, "gpu": "0"})


def spec_limits(spec_path, service):
    """The deploy.resources.limits cpus/memory of one service, read with a tiny
    indentation walker (the corpus specs are simple block YAML)."""
    lines = open(spec_path).read().splitlines()
    path, out = [], {}
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#") or line.lstrip().startswith("-"):
            continue
        indent = len(line) - len(line.lstrip())
        key, _, val = line.strip().partition(":")
        while path and path[-1][0] >= indent:
            path.pop()
        names = [p[1] for p in path]
        if names[-4:] == [service, "deploy", "resources", "limits"] and key in ("cpus", "memory"):
            out[key] = val.strip().strip("'\"")
        path.append((indent, key))
    return out


def mapping_text_to_dict(text):
    """Ambassador's annotation: flat `key: value` YAML with one nesting level."""
    out, cur = {}, None
    for line in text.splitlines():
        if not line.strip() or line.strip() == "---":
            continue
        key, _, val = line.strip().partition(":")
        val = val.strip().strip("'\"")
        if line.startswith(" "):
            out[cur][key] = val
        elif val == "":
            cur = key
            out[key] = {}
        else:
            out[key] = val
    return out


def norm_path(p):
    # compat.md: "Home directories are absolute" (Tycho's default volumes are relative).
    return p if p.startswith("/") else "/" + p


def check(cond, msg):
    if not cond:
        raise Mismatch(msg)


def compare_container(app, t, o, reg_entry, checks):
    name = t["name"]
    check(t["image"] == o["image"], f"{name}: image {o['image']!r} != {t['image']!r}")
    checks[0] += 1
    check(t.get("command") == o.get("command"),
          f"{name}: command {o.get('command')!r} != {t.get('command')!r}")
    checks[0] += 1

    # env: names and values (last definition wins, as in Kubernetes).
    tenv = {}
    for e in t.get("env", []):
        tenv[e["name"]] = e.get("value")
    oenv = {}
    for e in o.get("env", []):
        oenv[e["name"]] = e.get("value", e.get("valueFrom"))
    for k, v in tenv.items():
        if k in ("access_token",):
            # compat.md: "The access token is never in plain env" -> secretKeyRef.
            ref = oenv.get(k)
            check(isinstance(ref, dict) and "secretKeyRef" in ref,
                  f"{name}: env {k} is not a secretKeyRef: {ref!r}")
            continue
        if k == "refresh_token" and v == "None":
            # compat.md: "One env entry per name" (no refresh_token "None").
            check(k not in oenv, f"{name}: unexpected refresh_token env")
            continue
        if k == "system_name" and v != app:
            # compat.md: "system_name is the app id" (Tycho: the alphabetically last service).
            check(oenv.get(k) == app, f"{name}: env system_name={oenv.get(k)!r}")
            continue
        check(k in oenv, f"{name}: env {k} missing")
        check(oenv[k] == v, f"{name}: env {k}={oenv[k]!r}, Tycho {v!r}")
        checks[0] += 1
    for k in oenv:
        # compat.md: "The access token is never in plain env" (ACCESS_TOKEN added).
        check(k in tenv or k == "ACCESS_TOKEN", f"{name}: extra env {k}")

    # ports: compat.md "Ports" (published ports are also containerPorts) -> Tycho's are a subset.
    tports = {(p["containerPort"], p.get("protocol", "TCP")) for p in t.get("ports") or []}
    oports = {(p["containerPort"], p.get("protocol", "TCP")) for p in o.get("ports") or []}
    check(tports <= oports, f"{name}: container ports {oports} lack {tports - oports}")
    checks[0] += 1

    # mounts
    ovols = {}
    for m in o.get("volumeMounts") or []:
        ovols[m["mountPath"]] = m
    seen = set()
    for m in t.get("volumeMounts") or []:
        path = norm_path(m["mountPath"])
        check(path in ovols, f"{name}: mount {path} missing")
        om = ovols[path]
        seen.add(path)
        check(om["name"] == m["name"], f"{name}: mount {path} volume {om['name']} != {m['name']}")
        check((om.get("subPath") or None) == (m.get("subPath") or None),
              f"{name}: mount {path} subPath {om.get('subPath')!r} != {m.get('subPath')!r}")
        check(bool(om.get("readOnly")) == bool(m.get("readOnly")),
              f"{name}: mount {path} readOnly differs")
        checks[0] += 1
    return ovols, seen


def compare_resources(name, t, o, checks):
    for kind in ("limits", "requests"):
        tr = dict((t.get("resources") or {}).get(kind) or {})
        orr = dict((o.get("resources") or {}).get(kind) or {})
        # compat.md: "GPUs only when asked for" (Tycho: nvidia.com/gpu: 0 everywhere).
        if tr.get("nvidia.com/gpu") == 0:
            del tr["nvidia.com/gpu"]
        check(tr == orr, f"{name}: resources.{kind} {orr} != {tr}")
        checks[0] += 1


def compare_probes(name, t, o, checks):
    for probe in ("livenessProbe", "readinessProbe"):
        tp, op = t.get(probe), o.get(probe)
        check((tp is None) == (op is None), f"{name}: {probe} presence differs ({op!r} vs {tp!r})")
        if tp is None:
            continue
        for action in ("exec", "httpGet", "tcpSocket"):
            check(tp.get(action) == op.get(action),
                  f"{name}: {probe}.{action} {op.get(action)!r} != {tp.get(action)!r}")
        checks[0] += 1
    # compat.md: "Probe timings go inside the probe" (Tycho puts them beside it).
    for key in TIMING:
        if key in t:
            found = any((o.get(p) or {}).get(key) == t[key]
                        for p in ("livenessProbe", "readinessProbe"))
            check(found, f"{name}: no probe carries {key}={t[key]}")
            checks[0] += 1


def compare_labels(what, tl, ol, app, checks):
    for k, v in tl.items():
        if k == "tycho-app-id" and v is None:
            # compat.md: "tycho-app-id holds the app id" (Tycho renders null).
            check(ol.get(k) == app, f"{what}: tycho-app-id {ol.get(k)!r}")
            continue
        if k == "conn_string" and v is None:
            # compat.md: "No null labels" (conn_string omitted when empty).
            check(k not in ol, f"{what}: conn_string label present")
            continue
        check(ol.get(k) == v, f"{what}: label {k}={ol.get(k)!r}, Tycho {v!r}")
        checks[0] += 1


def compare_security(tpod, opod, reg_entry, checks):
    sc = reg_entry.get("securityContext") or {}
    tsc, osc = tpod.get("securityContext") or {}, opod.get("securityContext") or {}
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        given = sc.get(key) not in (None, "")
        if given:
            check(osc.get(key) == tsc.get(key), f"pod securityContext.{key} {osc.get(key)} != "
                                                f"{tsc.get(key)}")
            checks[0] += 1
        else:
            # compat.md: "No root by default" (Tycho: 0 when the registry says nothing).
            check(key not in osc, f"pod securityContext.{key} set without the registry")
    if sc.get("runAsUser") in (None, ""):
        check(osc.get("runAsNonRoot") is True, "pod lacks runAsNonRoot")


def compare_app(label, ctx, app, expected, tycho, corpus, tmp, via_registry=False):
    reg_all = json.load(open(os.path.join(corpus, "expected/registry", label, ctx + ".json")))
    reg_entry = reg_all[app]
    spec_url = reg_entry["spec"]
    rel = spec_url[spec_url.index("app-specs/"):]
    spec = os.path.join(corpus, LABEL_BRANCH[label], rel)
    main_service = app
    lim, req = appstore_request(spec_limits(spec, main_service))
    apps_json = os.path.join(tmp, "apps.json")
    json.dump(reg_all, open(apps_json, "w"))
    token = os.path.join(tmp, "token")
    open(token, "w").write(TOKEN)
    if via_registry:
        # The whole pipeline: our registry loader resolves the corpus registry and
        # reads the spec and .env beside it.
        cmd = [tycho, "compile", "--registry", os.path.join(corpus, LABEL_BRANCH[label]),
               "--context", ctx, "--app", app]
    else:
        cmd = [tycho, "compile", "-f", spec, "--apps-json", apps_json, "--app", app,
               "--settings", os.path.join(corpus, LABEL_SETTINGS[label])]
    cmd += ["--username", USER, "--id", GUID, "--host", HOST, "--access-token-file", token,
            "-o", "json"]
    if label in LABEL_POLICY:
        pol = os.path.join(tmp, "policy.json")
        json.dump(LABEL_POLICY[label], open(pol, "w"))
        cmd += ["--policy", pol]
    for k, v in lim.items():
        cmd += ["--limit", f"{k}={v}"]
    for k, v in req.items():
        cmd += ["--request", f"{k}={v}"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise Mismatch(f"tycho compile failed: {r.stderr.strip()}")
    ours = json.loads(r.stdout)
    check(ours["kind"] == "List", "not a List")
    by_kind = {}
    for it in ours["items"]:
        by_kind.setdefault(it["kind"], []).append(it)
    checks = [0]
    for obj in expected["objects"]:
        body = obj["body"]
        if obj["kind"] == "Deployment":
            check(len(by_kind.get("Deployment", [])) == 1, "not one Deployment")
            od = by_kind["Deployment"][0]
            check(od["metadata"]["name"] == body["metadata"]["name"], "Deployment name")
            check(od["spec"]["replicas"] == 1, "replicas")
            compare_labels("Deployment", body["metadata"]["labels"], od["metadata"]["labels"],
                           app, checks)
            check(od["spec"]["selector"] == body["spec"]["selector"], "selector differs")
            tt, ot = body["spec"]["template"], od["spec"]["template"]
            compare_labels("pod", tt["metadata"]["labels"], ot["metadata"]["labels"], app, checks)
            tpod, opod = tt["spec"], ot["spec"]
            check(tpod.get("serviceAccountName") == opod.get("serviceAccountName"),
                  "serviceAccountName differs")
            compare_security(tpod, opod, reg_entry, checks)
            # compat.md: "GPUs only when asked for" (toleration only then).
            check("tolerations" not in opod, "toleration without GPUs")
            oc = {c["name"]: c for c in opod["containers"]}
            check(set(oc) == {c["name"] for c in tpod["containers"]}, "container names differ")
            ovolumes = {v["name"]: v for v in opod.get("volumes") or []}
            for v in tpod.get("volumes") or []:
                check(v["name"] in ovolumes, f"volume {v['name']} missing")
                ov = dict(ovolumes[v["name"]])
                if "secret" in v:
                    check(ov.get("secret") == v["secret"], f"volume {v['name']} differs")
                else:
                    check(ov.get("persistentVolumeClaim") == v.get("persistentVolumeClaim"),
                          f"volume {v['name']} differs")
                checks[0] += 1
            for tc in tpod["containers"]:
                o = oc[tc["name"]]
                ovols, seen = compare_container(app, tc, o, reg_entry, checks)
                for path, m in ovols.items():
                    if path in seen:
                        continue
                    vol = ovolumes.get(m["name"], {})
                    claim = (vol.get("persistentVolumeClaim") or {}).get("claimName")
                    # compat.md: "A missing PVC is not silently unmounted".
                    check(claim and claim not in EXISTING_PVCS,
                          f"{tc['name']}: extra mount {path} ({m['name']})")
                compare_resources(tc["name"], tc, o, checks)
                compare_probes(tc["name"], tc, o, checks)
                sc = reg_entry.get("securityContext") or {}
                if sc.get("runAsUser") not in (None, ""):
                    tcs, ocs = tc.get("securityContext") or {}, o.get("securityContext") or {}
                    check(tcs.get("runAsUser") == ocs.get("runAsUser"),
                          f"{tc['name']}: container runAsUser differs")
            tinit = tpod.get("initContainers") or []
            oinit = opod.get("initContainers") or []
            check(len(tinit) == len(oinit), "initContainers differ in number")
            for ti, oi in zip(tinit, oinit):
                check(ti["image"] == oi["image"], "init image differs")
                check(ti["volumeMounts"] == oi["volumeMounts"], "init mounts differ")
                check(ti["resources"] == oi["resources"], "init resources differ")
                for d in ("/home/alice", "/home/shared"):
                    check(d in oi["args"][0], f"init script lacks {d}")
                checks[0] += 1
        elif obj["kind"] == "Service":
            osvc = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
            name = body["metadata"]["name"]
            check(name in osvc, f"Service {name} missing")
            s = osvc[name]
            compare_labels(f"Service {name}", body["metadata"]["labels"],
                           s["metadata"]["labels"], app, checks)
            check(s["spec"]["selector"] == body["spec"]["selector"], "Service selector differs")
            check(s["spec"]["type"] == body["spec"]["type"], "Service type differs")
            tp = [(p["port"], p["targetPort"], p["protocol"]) for p in body["spec"]["ports"]]
            op = [(p["port"], p["targetPort"], p["protocol"]) for p in s["spec"]["ports"]]
            check(tp == op, f"Service ports {op} != {tp}")
            checks[0] += 1
            tann = (body["metadata"].get("annotations") or {}).get("getambassador.io/config")
            oann = (s["metadata"].get("annotations") or {}).get("getambassador.io/config")
            check((tann is None) == (oann is None), "Ambassador mapping presence differs")
            if tann:
                tm, om = mapping_text_to_dict(tann), mapping_text_to_dict(oann)
                check(tm == om, f"Ambassador mapping {om} != {tm}")
                checks[0] += 1
            # compat.md: "Owner references are set by the session service" and
            # "No stray resourceversion key".
            check("ownerReferences" not in s["metadata"], "unexpected ownerReferences")
            check("resourceversion" not in s, "stray resourceversion")
        else:
            raise Mismatch(f"unexpected Tycho object kind {obj['kind']}")
    return checks[0]


def main():
    corpus = os.environ.get("TYCHO_CONFORMANCE_CORPUS")
    if not corpus:
        if os.environ.get("CI") == "true":
            print("TYCHO_CONFORMANCE_CORPUS is not set (required in CI)", file=sys.stderr)
            return 1
        print("skipped: TYCHO_CONFORMANCE_CORPUS is not set")
        return 77
    tycho = os.environ.get("TYCHO_BIN", "tycho")
    root = os.path.join(corpus, "expected", "manifests")
    failures, apps, checks = [], 0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for label in sorted(os.listdir(root)):
            for ctx in sorted(os.listdir(os.path.join(root, label))):
                for f in sorted(os.listdir(os.path.join(root, label, ctx))):
                    expected = json.load(open(os.path.join(root, label, ctx, f)))
                    if "error" in expected:
                        continue
                    app = f[:-5]
                    apps += 1
                    try:
                        checks += compare_app(label, ctx, app, expected, tycho, corpus, tmp)
                    except Mismatch as e:
                        failures.append(f"{label}/{ctx}/{app}: {e}")
                    # helx-apps registries use relative spec URLs, so they resolve to the
                    # corpus files; Tycho's built-in registry points at GitHub.
                    if label.startswith("helx-apps"):
                        apps += 1
                        try:
                            checks += compare_app(label, ctx, app, expected, tycho, corpus, tmp,
                                                  via_registry=True)
                        except Mismatch as e:
                            failures.append(f"{label}/{ctx}/{app} (--registry): {e}")
    for f in failures:
        print("FAIL", f)
    print(f"{apps} launches compared, {checks} field checks, {len(failures)} failing")
    return 1 if failures or apps == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
