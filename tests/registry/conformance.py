#!/usr/bin/env python3
"""Registry conformance: `tycho apps --json` against the outputs of the real
Tycho under $TYCHO_CONFORMANCE_CORPUS/expected/registry/<label>/<context>.json.

Each label names the registry Tycho loaded and the registry URL it used
(tycho_config_url), which we pass as --base-url.  Contexts Tycho failed to load
({"error": ...}) must either load here with a warning naming the cause, or fail
with a file:line:col error.  Without the corpus the test is skipped (exit 77),
except under CI=true, where a missing corpus is a failure.

The corpus has no outputs produced with Tycho's DOCKSTORE_APPS_BRANCH set, so
the branch check derives them: Tycho's built-in registry loaded with
EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false DOCKSTORE_APPS_BRANCH=develop must
give Tycho's outputs with .../raw/master/ replaced by .../raw/develop/ in spec
and icon only (none of its apps has an explicit spec, and docs are not
rewritten, per Tycho's _grok).
"""
import json
import os
import re
import subprocess
import sys

DEVELOP = "https://github.com/helxplatform/helx-apps/raw/develop"
LABELS = {
    # label: (registry folder under the corpus, base URL or None)
    "helx-apps-develop": ("helx-apps/develop", DEVELOP),
    "helx-apps-develop+homedirs": ("helx-apps/develop", DEVELOP),
    # The corpus generator served the helx-dev registry under the develop URL:
    # every spec and icon in expected/registry/helx-apps-helx-dev names
    # .../raw/develop/app-specs, so that is the base that reproduces it.
    "helx-apps-helx-dev": ("helx-apps/helx-dev", DEVELOP),
    # Tycho's built-in registry has an absolute repository URL.
    "tycho-builtin": ("tycho/tycho/conf", None),
}
# What a Tycho load error means here: a warning with this text (we load).
ERROR_AS_WARNING = {"KeyError: 'docs'": "has no docs"}
POSITION = re.compile(r"\S+\.yaml:\d+:\d+: ")
# The spec branch variables must not leak in from the caller's environment.
BRANCH_VARS = ("TYCHO_SPEC_BRANCH", "DOCKSTORE_APPS_BRANCH", "EXTERNAL_TYCHO_APP_REGISTRY_ENABLED")
RAW = "https://github.com/helxplatform/helx-apps/raw/"


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in BRANCH_VARS}
    env.update(extra or {})
    return env


def branch_check(tycho, corpus, failures):
    """tycho-builtin with Tycho's branch variables set: see the docstring."""
    root = os.path.join(corpus, "expected", "registry", "tycho-builtin")
    registry = os.path.join(corpus, LABELS["tycho-builtin"][0])
    env = clean_env({"EXTERNAL_TYCHO_APP_REGISTRY_ENABLED": "false",
                     "DOCKSTORE_APPS_BRANCH": "develop"})
    checked = 0
    for name in sorted(os.listdir(root)):
        with open(os.path.join(root, name)) as f:
            want = json.load(f)
        if not name.endswith(".json") or set(want) == {"error"}:
            continue
        for entry in want.values():
            for key in ("spec", "icon"):
                if entry.get(key, "").startswith(RAW + "master/"):
                    entry[key] = RAW + "develop/" + entry[key][len(RAW + "master/"):]
        p = subprocess.run([tycho, "apps", "--registry", registry, "--context", name[:-5],
                            "--json"], capture_output=True, text=True, timeout=60, env=env)
        checked += 1
        where = "tycho-builtin/%s with DOCKSTORE_APPS_BRANCH=develop" % name[:-5]
        if p.returncode != 0:
            failures.append("%s: exit %d: %s" % (where, p.returncode, p.stderr.strip()))
        elif json.loads(p.stdout) != want:
            failures.append("%s: differs from Tycho's output with raw/develop specs" % where)
    if checked == 0:
        failures.append("tycho-builtin: no context to check the spec branch with")
    return checked


def main():
    corpus = os.environ.get("TYCHO_CONFORMANCE_CORPUS", "")
    if not corpus or not os.path.isdir(os.path.join(corpus, "expected", "registry")):
        msg = "TYCHO_CONFORMANCE_CORPUS is not set or has no expected/registry (%r)" % corpus
        if os.environ.get("CI") == "true":
            print("FAIL: " + msg + "; CI needs the corpus")
            return 1
        print("SKIP: " + msg)
        return 77
    tycho = os.environ.get("TYCHO_BIN", "tycho")
    root = os.path.join(corpus, "expected", "registry")
    failures, checked = [], 0
    for label in sorted(os.listdir(root)):
        if label not in LABELS:
            failures.append("%s: unknown corpus label; add it to LABELS" % label)
            continue
        folder, base = LABELS[label]
        registry = os.path.join(corpus, folder)
        for name in sorted(os.listdir(os.path.join(root, label))):
            if not name.endswith(".json"):
                continue
            ctx = name[:-5]
            with open(os.path.join(root, label, name)) as f:
                want = json.load(f)
            cmd = [tycho, "apps", "--registry", registry, "--context", ctx, "--json"]
            if base:
                cmd += ["--base-url", base]
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=clean_env())
            checked += 1
            where = "%s/%s" % (label, ctx)
            if isinstance(want, dict) and set(want) == {"error"}:
                cause = ERROR_AS_WARNING.get(want["error"])
                if p.returncode == 0:
                    if not cause or cause not in p.stderr or not POSITION.search(p.stderr):
                        failures.append("%s: Tycho failed (%s); we loaded without a warning "
                                        "naming it: %r" % (where, want["error"], p.stderr))
                elif not POSITION.search(p.stderr):
                    failures.append("%s: failed without file:line:col: %r" % (where, p.stderr))
                continue
            if p.returncode != 0:
                failures.append("%s: exit %d: %s" % (where, p.returncode, p.stderr.strip()))
                continue
            got = json.loads(p.stdout)
            if got != want:
                for app in sorted(set(got) | set(want)):
                    if got.get(app) != want.get(app):
                        failures.append("%s: app %s differs:\n  got  %s\n  want %s" % (
                            where, app, json.dumps(got.get(app), sort_keys=True),
                            json.dumps(want.get(app), sort_keys=True)))
    checked += branch_check(tycho, corpus, failures)
    for f in failures:
        print("FAIL " + f)
    print("%d contexts checked, %d failures" % (checked, len(failures)))
    return 1 if failures or checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
