#!/usr/bin/env python3
"""The spec branch reaches the server's registry: `tycho api` started with
Tycho's EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false DOCKSTORE_APPS_BRANCH=develop
(or TYCHO_SPEC_BRANCH, the config file's spec_branch, --spec-branch) serves
apps whose default spec comes from the branch: GET /v1/registry reports the
branch, GET /v1/apps/web shows the develop icon and the develop spec's
resources.  A bad branch stops the server at start with the key named."""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "api"))
import tyapi  # noqa: E402
from tyapi import check  # noqa: E402

BRANCH_VARS = ("DOCKSTORE_APPS_BRANCH", "EXTERNAL_TYCHO_APP_REGISTRY_ENABLED")


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def make_registry(top):
    reg = os.path.join(top, "reg")
    write(os.path.join(reg, "app-registry.yaml"),
          "repositories:\n  r: {url: ../master/app-specs}\nsettings: {}\n"
          "contexts:\n  c:\n    apps:\n"
          "      web: {name: Web, docs: d, services: {web: 8080}, count: 1}\n")
    for branch, mem in (("master", "256M"), ("develop", "512M")):
        write(os.path.join(top, branch, "app-specs", "web", "docker-compose.yaml"),
              "services:\n  web:\n    image: example.org/web:%s\n    ports: ['8080:8080']\n"
              "    deploy: {resources: {limits: {memory: %s}}}\n" % (branch, mem))
    return reg


def serve(reg, env=None, args=(), config=None, expect_branch=None, expect_dir="master"):
    with tyapi.Server(args=["--context", "c", *args], env=env, registry=reg,
                      config=config) as s:
        st, _, body = s.request("GET", "/v1/registry")
        check(st == 200 and body.get("spec_branch") == expect_branch,
              "GET /v1/registry spec_branch is %r" % expect_branch, repr(body))
        st, _, app = s.request("GET", "/v1/apps/web")
        app = app if isinstance(app, dict) else {}
        icon = app.get("icon") or ""
        check(st == 200 and icon.endswith("/%s/app-specs/web/icon.png" % expect_dir),
              "GET /v1/apps/web icon from %s" % expect_dir, repr(app))
        mem = "512" if expect_dir == "develop" else "256"
        check(mem in repr(app.get("resources")),
              "GET /v1/apps/web resources read from the %s spec" % expect_dir, repr(app))
        check("spec_error" not in app, "the %s spec reads" % expect_dir, repr(app))


def main():
    for k in BRANCH_VARS:
        os.environ.pop(k, None)
    top = tempfile.mkdtemp(prefix="ty-spec-branch-api-")
    try:
        reg = make_registry(top)
        tycho_env = {"EXTERNAL_TYCHO_APP_REGISTRY_ENABLED": "false",
                     "DOCKSTORE_APPS_BRANCH": "develop"}
        serve(reg)
        serve(reg, env=tycho_env, expect_branch="develop", expect_dir="develop")
        serve(reg, env=dict(tycho_env, EXTERNAL_TYCHO_APP_REGISTRY_ENABLED="true"))
        serve(reg, env={"TYCHO_SPEC_BRANCH": "develop"}, expect_branch="develop",
              expect_dir="develop")
        # TYCHO_SPEC_BRANCH, even empty, wins over Tycho's names.
        serve(reg, env=dict(tycho_env, TYCHO_SPEC_BRANCH=""))
        # The config file's key; the environment is layered over it.
        serve(reg, config="spec_branch: develop\n", expect_branch="develop",
              expect_dir="develop")
        serve(reg, config="spec_branch: nope\n", env=tycho_env, expect_branch="develop",
              expect_dir="develop")
        # The flag wins over both.
        serve(reg, env={"TYCHO_SPEC_BRANCH": "nope"}, args=["--spec-branch", "develop"],
              expect_branch="develop", expect_dir="develop")

        e = {k: v for k, v in os.environ.items() if not k.startswith("TYCHO_") or
             k == "TYCHO_BIN"}
        e.update(tycho_env, DOCKSTORE_APPS_BRANCH="../x")
        p = subprocess.run([tyapi.TYCHO, "api", "--listen", "127.0.0.1:0", "--db",
                            os.path.join(top, "bad.db"), "--registry", reg],
                           capture_output=True, text=True, timeout=30, env=e)
        check(p.returncode != 0 and "spec_branch: spec branch '../x'" in p.stderr,
              "a bad DOCKSTORE_APPS_BRANCH stops the server naming it", p.stderr[-500:])
    finally:
        shutil.rmtree(top, ignore_errors=True)
    tyapi.finish()


if __name__ == "__main__":
    main()
