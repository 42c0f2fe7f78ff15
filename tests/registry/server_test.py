#!/usr/bin/env python3
"""The spec branch reaches the server's registry: `tycho api` started with
Tycho's EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false DOCKSTORE_APPS_BRANCH=develop
(or TYCHO_SPEC_BRANCH, the config file's spec_branch, --spec-branch) serves
apps whose default spec comes from the branch: GET /v1/registry reports the
branch, GET /v1/apps/web shows the develop icon and the develop spec's
resources.  A bad branch stops the server at start with the key named."""
import os
import shutil
import signal
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


CASES = [
    # (what, env, flags, config file, expected spec_branch)
    ("no variables", None, (), None, None),
    ("Tycho's variables", "tycho", (), None, "develop"),
    ("EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=true", {"EXTERNAL_TYCHO_APP_REGISTRY_ENABLED": "true",
                                                 "DOCKSTORE_APPS_BRANCH": "develop"},
     (), None, None),
    ("TYCHO_SPEC_BRANCH over Tycho's variables",
     {"EXTERNAL_TYCHO_APP_REGISTRY_ENABLED": "false", "DOCKSTORE_APPS_BRANCH": "nope",
      "TYCHO_SPEC_BRANCH": "develop"}, (), None, "develop"),
    ("an empty TYCHO_SPEC_BRANCH over Tycho's variables",
     {"EXTERNAL_TYCHO_APP_REGISTRY_ENABLED": "false", "DOCKSTORE_APPS_BRANCH": "develop",
      "TYCHO_SPEC_BRANCH": ""}, (), None, None),
    ("the config file's spec_branch", None, (), "spec_branch: develop\n", "develop"),
    ("Tycho's variables over the config file", "tycho", (), "spec_branch: nope\n", "develop"),
    ("--spec-branch over TYCHO_SPEC_BRANCH", {"TYCHO_SPEC_BRANCH": "nope"},
     ("--spec-branch", "develop"), None, "develop"),
]
TYCHO_ENV = {"EXTERNAL_TYCHO_APP_REGISTRY_ENABLED": "false", "DOCKSTORE_APPS_BRANCH": "develop"}


def check_server(s, what, expect_branch):
    expect_dir = "develop" if expect_branch else "master"
    st, _, body = s.request("GET", "/v1/registry")
    body = body if isinstance(body, dict) else {}
    check(st == 200 and body.get("spec_branch") == expect_branch,
          "%s: GET /v1/registry spec_branch is %r" % (what, expect_branch), repr(body))
    st, _, app = s.request("GET", "/v1/apps/web")
    app = app if isinstance(app, dict) else {}
    icon = app.get("icon") or ""
    check(st == 200 and icon.endswith("/%s/app-specs/web/icon.png" % expect_dir),
          "%s: GET /v1/apps/web icon from %s" % (what, expect_dir), repr(app))
    mem = "512M" if expect_dir == "develop" else "256M"
    check(mem in repr(app.get("resources")) and "spec_error" not in app,
          "%s: GET /v1/apps/web resources read from the %s spec" % (what, expect_dir), repr(app))


def main():
    for k in BRANCH_VARS:
        os.environ.pop(k, None)
    top = tempfile.mkdtemp(prefix="ty-spec-branch-api-")
    servers = []
    try:
        reg = make_registry(top)
        # All servers run at once: each takes seconds to stop, not to start.
        for what, env, flags, config, branch in CASES:
            env = TYCHO_ENV if env == "tycho" else env
            servers.append((what, branch, tyapi.Server(args=["--context", "c", *flags], env=env,
                                                       registry=reg, config=config)))
        for what, branch, s in servers:
            check_server(s, what, branch)

        e = {k: v for k, v in os.environ.items() if not k.startswith("TYCHO_") or
             k == "TYCHO_BIN"}
        e.update(TYCHO_ENV, DOCKSTORE_APPS_BRANCH="../x")
        p = subprocess.run([tyapi.TYCHO, "api", "--listen", "127.0.0.1:0", "--db",
                            os.path.join(top, "bad.db"), "--registry", reg],
                           capture_output=True, text=True, timeout=30, env=e)
        check(p.returncode != 0 and "spec_branch: spec branch '../x'" in p.stderr,
              "a bad DOCKSTORE_APPS_BRANCH stops the server naming it", p.stderr[-500:])
    finally:
        for _, _, s in servers:
            if s.proc.poll() is None:
                s.proc.send_signal(signal.SIGTERM)
        for what, _, s in servers:
            rc = s.stop()
            check(rc == 0, "%s: server exit status" % what,
                  "rc=%s\n%s" % (rc, s.server_log()[-2000:]))
            shutil.rmtree(s.tmp, ignore_errors=True)
        shutil.rmtree(top, ignore_errors=True)
    tyapi.finish()


if __name__ == "__main__":
    main()
