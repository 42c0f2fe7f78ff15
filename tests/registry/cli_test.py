#!/usr/bin/env python3
"""`tycho registry check` and `tycho apps` end to end: the bundled registry,
error and warning output as file:line:col, --help, the default registry, an
http(s) registry source served by a local HTTP server on 127.0.0.1, and the
spec branch (--spec-branch, $TYCHO_SPEC_BRANCH, Tycho's DOCKSTORE_APPS_BRANCH
with EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false) reaching `tycho apps`,
`tycho registry check` and `tycho compile`."""
import http.server
import json
import os
import re
import subprocess
import sys
import tempfile
import threading

TYCHO = os.environ["TYCHO_BIN"]
SRC = os.environ["TY_SOURCE_DIR"]
DATA = os.path.join(SRC, "tests", "data", "registry")
failures = []
BRANCH_VARS = ("TYCHO_SPEC_BRANCH", "DOCKSTORE_APPS_BRANCH", "EXTERNAL_TYCHO_APP_REGISTRY_ENABLED")


def run(*args, env=None):
    e = {k: v for k, v in os.environ.items() if k not in BRANCH_VARS}
    e.update(env or {})
    return subprocess.run([TYCHO, *args], capture_output=True, text=True, cwd=SRC, env=e,
                          timeout=60)


def check(cond, what, p=None):
    if not cond:
        extra = "" if p is None else " (exit %d)\nstdout: %s\nstderr: %s" % (
            p.returncode, p.stdout[:2000], p.stderr[:2000])
        failures.append(what + extra)
        print("FAIL " + what + extra)
    else:
        print("ok   " + what)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def spec_branch_checks(cache):
    """A registry whose repository is ../master/app-specs beside a develop/
    copy holding a different image: the branch from the flag or the
    environment must reach resolution (spec, icon) and spec reading."""
    top = tempfile.mkdtemp(prefix="ty-spec-branch-")
    reg = os.path.join(top, "reg")
    write(os.path.join(reg, "app-registry.yaml"),
          "repositories:\n  r: {url: ../master/app-specs}\nsettings: {}\n"
          "contexts:\n  c:\n    apps:\n"
          "      web: {docs: $r/web.md, services: {web: 8080}}\n"
          "      pinned: {docs: d, spec: $r/web/docker-compose.yaml, services: {web: 8080}}\n")
    for branch in ("master", "develop"):
        write(os.path.join(top, branch, "app-specs", "web", "docker-compose.yaml"),
              "services:\n  web:\n    image: example.org/web:%s-image\n"
              "    ports: ['8080:8080']\n" % branch)
    master = os.path.join(top, "master", "app-specs")
    develop = os.path.join(top, "develop", "app-specs")
    base = {"TYCHO_CACHE_DIR": cache}
    tycho_env = dict(base, EXTERNAL_TYCHO_APP_REGISTRY_ENABLED="false",
                     DOCKSTORE_APPS_BRANCH="develop")

    def apps(extra_env, *flags):
        p = run("apps", "--registry", reg, "--json", *flags, env=extra_env)
        return p, (json.loads(p.stdout) if p.returncode == 0 else {})

    try:
        p, got = apps(base)
        check(got.get("web", {}).get("spec") == master + "/web/docker-compose.yaml",
              "spec branch: without the variables the default spec keeps master", p)
        p, got = apps(tycho_env)
        web = got.get("web", {})
        check(web.get("spec") == develop + "/web/docker-compose.yaml" and
              web.get("icon") == develop + "/web/icon.png" and
              web.get("docs") == master + "/web.md" and
              got.get("pinned", {}).get("spec") == master + "/web/docker-compose.yaml",
              "spec branch: DOCKSTORE_APPS_BRANCH rewrites the default spec and icon only", p)
        p, got = apps(dict(tycho_env, EXTERNAL_TYCHO_APP_REGISTRY_ENABLED="true"))
        check(got.get("web", {}).get("spec") == master + "/web/docker-compose.yaml",
              "spec branch: ignored with EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=true", p)
        p, got = apps(dict(base, DOCKSTORE_APPS_BRANCH="develop"))
        check(got.get("web", {}).get("spec") == master + "/web/docker-compose.yaml",
              "spec branch: ignored without EXTERNAL_TYCHO_APP_REGISTRY_ENABLED=false", p)
        p, got = apps(dict(tycho_env, TYCHO_SPEC_BRANCH=""))
        check(got.get("web", {}).get("spec") == master + "/web/docker-compose.yaml",
              "spec branch: an empty TYCHO_SPEC_BRANCH wins over Tycho's variables", p)
        p, got = apps(dict(base, TYCHO_SPEC_BRANCH="develop"))
        check(got.get("web", {}).get("spec") == develop + "/web/docker-compose.yaml",
              "spec branch: TYCHO_SPEC_BRANCH", p)
        p, got = apps(dict(tycho_env, TYCHO_SPEC_BRANCH="v9"), "--spec-branch", "develop")
        check(got.get("web", {}).get("spec") == develop + "/web/docker-compose.yaml",
              "spec branch: --spec-branch wins over the environment", p)
        p = run("apps", "--registry", reg, env=dict(tycho_env, DOCKSTORE_APPS_BRANCH="a b"))
        check(p.returncode == 1 and "DOCKSTORE_APPS_BRANCH: spec branch 'a b'" in p.stderr,
              "spec branch: a bad branch is refused naming the variable", p)
        p = run("registry", "check", "--registry", reg, env=tycho_env)
        check(p.returncode == 0 and "2 specs checked" in p.stdout and p.stderr == "",
              "spec branch: registry check reads the develop spec", p)
        p = run("registry", "check", "--registry", reg, "--spec-branch", "nope", env=base)
        check(p.returncode == 0 and re.search(r"warning: .*nope/app-specs/web/docker-compose",
                                              p.stderr),
              "spec branch: registry check --spec-branch warns about a spec not there", p)
        p = run("compile", "--registry", reg, "--context", "c", "--app", "web",
                "--username", "alice", "--id", "0123456789abcdef0123456789abcdef", "-o", "json",
                env=tycho_env)
        check(p.returncode == 0 and "web:develop-image" in p.stdout and
              "master-image" not in p.stdout,
              "spec branch: compile reads the spec from the branch", p)
        p = run("compile", "--registry", reg, "--context", "c", "--app", "web",
                "--username", "alice", "--id", "0123456789abcdef0123456789abcdef", "-o", "json",
                env=base)
        check(p.returncode == 0 and "web:master-image" in p.stdout,
              "spec branch: compile without it reads master", p)
    finally:
        subprocess.run(["rm", "-rf", top])


def main():
    cache = tempfile.mkdtemp(prefix="ty-registry-cli-")
    env = {"TYCHO_CACHE_DIR": cache}

    p = run("registry", "check", env=env)
    check(p.returncode == 0 and "0 warnings" in p.stdout and " specs checked" in p.stdout,
          "bundled registry checks clean, specs included", p)
    for ctx in ("default", "research"):
        p = run("registry", "check", "--context", ctx, env=env)
        check(p.returncode == 0 and p.stderr == "", "bundled context %s checks clean" % ctx, p)

    p = run("apps", "--context", "default", "--json", env=env)
    apps = json.loads(p.stdout) if p.returncode == 0 else {}
    check(sorted(apps) == ["filebrowser", "jupyterlab", "nginx", "rstudio", "webtop"],
          "bundled default context has the five apps", p)
    for app, entry in apps.items():
        check(os.path.isfile(entry.get("spec", "")), "spec of %s is a local file" % app)
        check(entry.get("icon") == os.path.dirname(entry["spec"]) + "/icon.png",
              "icon of %s beside its spec" % app)
    p = run("apps", "--context", "research", env=env)
    check(p.returncode == 0 and re.search(r"^jupyterlab-r\s+JupyterLab with R", p.stdout, re.M),
          "table output of the research context", p)
    p = run("apps", env=env)
    check(p.returncode == 2 and '"default"' in p.stderr, "apps without --context lists them", p)
    p = run("apps", "--registry", os.path.join(DATA, "valid", "nodocs"), "--json", env=env)
    check(p.returncode == 0 and "nodocs" in json.loads(p.stdout or "{}"),
          "apps picks the only context", p)

    p = run("registry", "check", "--registry", os.path.join(DATA, "invalid", "cycle"), env=env)
    check(p.returncode == 1 and re.search(
        r"invalid/cycle/app-registry\.yaml:9:15: extends cycle: a -> b -> c -> a", p.stderr),
        "cycle is an error with file:line:col naming the cycle", p)
    p = run("apps", "--registry", os.path.join(DATA, "invalid", "missing-parent"),
            "--context", "common", env=env)
    check(p.returncode == 1 and "app-registry.yaml:9:9: context 'child' extends unknown "
          "context 'comon'" in p.stderr, "apps refuses a registry with a missing parent", p)
    p = run("registry", "check", "--registry", os.path.join(DATA, "valid", "mixins"), env=env)
    check(p.returncode == 0 and re.search(
        r"warning: \S+/app-registry\.yaml:31:20: context 'leaf': unknown mixin 'nope'", p.stderr),
        "unknown mixin is a warning with file:line:col", p)
    p = run("registry", "check", "--context", "nope", env=env)
    check(p.returncode == 1 and "no context 'nope'" in p.stderr, "unknown context fails", p)
    p = run("registry", "check", "--registry", "/no/such/dir", env=env)
    check(p.returncode == 1 and "/no/such/dir" in p.stderr, "missing source fails", p)
    p = run("registry", "check", "--bogus", env=env)
    check(p.returncode == 2, "unknown flag is a usage error", p)

    for args in (("apps", "--help"), ("registry", "--help"), ("registry", "check", "--help"),
                 ("registry", "dump-json", "--help")):
        p = run(*args)
        check(p.returncode == 0 and "usage:" in p.stdout, " ".join(args), p)

    p = run("apps", "--json", env={"TYCHO_REGISTRY": os.path.join(DATA, "valid", "urls"),
                                   "TYCHO_CACHE_DIR": cache})
    check(p.returncode == 2 and '"main"' in p.stderr, "TYCHO_REGISTRY names the default", p)

    spec_branch_checks(cache)

    # An http(s) source: files fetched under the base URL, relative repositories
    # resolved against it.
    root = os.path.join(DATA, "valid", "relative")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=root, **kw)

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        p = run("apps", "--registry", base + "/", "--context", "ctx", "--json", env=env)
        got = json.loads(p.stdout) if p.returncode == 0 else {}
        check(got.get("a", {}).get("spec") == base + "/app-specs/a/docker-compose.yaml" and
              got.get("b", {}).get("spec") == "http://127.0.0.1:%d/shared/specs/b/"
              "docker-compose.yaml" % srv.server_address[1],
              "http source resolves relative repositories against its URL", p)
        p = run("apps", "--registry", base + "/missing", "--context", "ctx", env=env)
        check(p.returncode == 1 and "/missing/app-registry.yaml" in p.stderr,
              "http source that 404s fails naming the URL", p)
    finally:
        srv.shutdown()
        subprocess.run(["rm", "-rf", cache])
    print("%d failures" % len(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
