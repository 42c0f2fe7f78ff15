"""The registry refreshes itself.  A git registry (a bare repository this test
makes and commits to with the git command line) is served by the real server
with `registry_refresh: 1s`:

- a pushed commit goes live without a reload: a new app in GET /v1/apps, the
  change logged with both commits, tycho_registry_changes_total and
  tycho_registry_info{commit} in /metrics, last_changed_at in GET /v1/registry;
- a broken commit never goes live: the last good version keeps serving, the
  failure is logged and counted, and GET /v1/registry says why;
- the fetch cache is `cache/` beside the database (the data volume in a
  container), never under $HOME, unless `cache_dir` says otherwise;
- `registry_refresh: 0` refreshes only when asked; an interval under 1s is
  refused with the key named."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import SRC, TYCHO, Server, check, finish  # noqa: E402


def git(*args, cwd=None):
    r = subprocess.run(["git"] + list(args), cwd=cwd, capture_output=True, text=True,
                       env=dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                                GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t"))
    if r.returncode != 0:
        raise RuntimeError("git %s: %s" % (args, r.stderr))
    return r.stdout.strip()


def commit(work, message):
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def metric(text, name):
    m = re.search(r"^%s (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


def app_ids(s, token):
    st, _, body = s.request("GET", "/v1/apps", token=token)
    check(st == 200, "GET /v1/apps", "%s %s" % (st, body))
    items = body.get("items", body) if isinstance(body, dict) else []
    return {a.get("id") for a in items}


def wait(what, cond, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    check(False, what, "not within %ds" % timeout)
    return None


def main():
    tmp = tempfile.mkdtemp(prefix="tyapi-refresh-")
    remote, work = os.path.join(tmp, "remote.git"), os.path.join(tmp, "work")
    git("init", "-q", "--bare", remote)
    git("--git-dir=" + remote, "symbolic-ref", "HEAD", "refs/heads/main")
    shutil.copytree(os.path.join(SRC, "registry"), work)
    git("init", "-q", cwd=work)
    git("remote", "add", "origin", remote, cwd=work)
    c1 = commit(work, "bundled registry")
    source = "git+file://%s#main" % remote
    reg_file = os.path.join(work, "app-registry.yaml")
    with open(reg_file) as f:
        good = f.read()
    nohome = os.path.join(tmp, "no-home")  # a HOME that does not exist

    data = os.path.join(tmp, "data")
    os.mkdir(data)
    with Server(registry=source, tmp=data, config="registry_refresh: 1s\n",
                env={"HOME": nohome}) as s:
        admin = s.token("admin")
        check("nginx" in app_ids(s, admin) and "extra" not in app_ids(s, admin),
              "the first commit is served", app_ids(s, admin))
        st, _, reg = s.request("GET", "/v1/registry", token=admin)
        check(st == 200 and reg.get("commit") == c1 and reg.get("refresh_interval_seconds") == 1,
              "registry status: commit and interval", reg)

        # A new app, pushed: live within a few refreshes, no reload asked.
        shutil.copytree(os.path.join(work, "app-specs", "nginx"),
                        os.path.join(work, "app-specs", "extra"))
        with open(reg_file, "w") as f:
            f.write(good.replace("      nginx:\n        name: Nginx\n",
                                 "      extra:\n        name: Extra\n        docs: https://x.org/\n"
                                 "        services:\n          nginx: \"8080\"\n"
                                 "      nginx:\n        name: Nginx\n", 1))
        c2 = commit(work, "an extra app")
        wait("the pushed app goes live by itself", lambda: "extra" in app_ids(s, admin))
        st, _, reg = s.request("GET", "/v1/registry", token=admin)
        check(reg.get("commit") == c2 and reg.get("last_changed_at")
              and reg.get("last_error") is None, "registry status after the change", reg)
        check("registry changed: commit %s -> %s" % (c1[:12], c2[:12]) in s.server_log(),
              "the change is logged with both commits", s.server_log()[-2000:])
        st, _, m = s.request("GET", "/metrics", token=admin)
        check(metric(m, "tycho_registry_changes_total") == 1, "changes counted", m[-1500:])
        check(metric(m, "tycho_registry_refresh_interval_seconds") == 1, "interval in /metrics")
        check(metric(m, "tycho_registry_last_refresh_ok") == 1, "last refresh ok")
        check(('tycho_registry_info{commit="%s"} 1' % c2) in m, "live commit in /metrics",
              m[-1500:])

        # A broken commit: refused, the last good version stays live.
        with open(reg_file, "w") as f:
            f.write(good.replace("  default:\n    name: Tycho demo apps\n",
                                 "  default:\n    name: Tycho demo apps\n    extends: [gone]\n",
                                 1))
        commit(work, "broken")
        reg = wait("the broken commit is reported",
                   lambda: (lambda r: r if r.get("last_error") else None)(
                       s.request("GET", "/v1/registry", token=admin)[2]))
        check(reg and "gone" in reg["last_error"] and reg.get("commit") == c2,
              "the last good commit stays live and the error says why", reg)
        check("extra" in app_ids(s, admin), "the last good registry keeps serving")
        st, _, m = s.request("GET", "/metrics", token=admin)
        check((metric(m, "tycho_registry_refresh_failures_total") or 0) >= 1
              and metric(m, "tycho_registry_last_refresh_ok") == 0
              and metric(m, "tycho_registry_changes_total") == 1, "the failure is counted",
              m[-1500:])
        check(re.search(r"refresh failed, the previous version stays live \(commit %s\): .*gone"
                        % c2, s.server_log()), "the failure is logged", s.server_log()[-2000:])

        # The cache lies beside the database, not under $HOME.
        check(os.path.isdir(os.path.join(data, "cache", "git")), "cache beside the database",
              os.listdir(data))
        check(not os.path.exists(nohome), "nothing written under $HOME")

    # cache_dir names another place; registry_refresh: 0 runs no schedule.
    data2, cache2 = os.path.join(tmp, "data2"), os.path.join(tmp, "elsewhere")
    os.mkdir(data2)
    with open(reg_file, "w") as f:
        f.write(good)
    commit(work, "fixed")
    with Server(registry=source, tmp=data2, env={"HOME": nohome},
                config="registry_refresh: 0\ncache_dir: %s\n" % cache2) as s:
        admin = s.token("admin")
        st, _, m = s.request("GET", "/metrics", token=admin)
        check(metric(m, "tycho_registry_refresh_interval_seconds") == 0, "no schedule", m[-800:])
        st, _, reg = s.request("GET", "/v1/registry", token=admin)
        check(reg.get("refresh_interval_seconds") is None, "no interval in the status", reg)
        check("only on POST /v1/registry/reload" in s.server_log(), "the log says so")
        check(os.path.isdir(os.path.join(cache2, "git"))
              and not os.path.exists(os.path.join(data2, "cache")), "cache_dir is used")

    for bad in ("500ms", "-1s", "soon"):
        r = subprocess.run([TYCHO, "api", "--check-config", "--set", "registry_refresh=" + bad],
                           capture_output=True, text=True)
        check(r.returncode == 2 and "registry_refresh" in r.stderr,
              "registry_refresh=%s refused" % bad, (r.returncode, r.stderr))
    from tyapi import FAILURES
    if not FAILURES:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
