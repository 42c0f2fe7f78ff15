"""The command-line client against a real server: the seeds' walk-through
(`tycho up -f spec.yaml` three times, `tycho status` lists three systems with
their ports, `tycho down $(tycho status --terse)` removes them, `tycho status`
says "None running"), `tycho token create|list|revoke`, and `launch`,
`sessions`, `history`, `modify` with tokens."""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import SEED, Server, check, finish, run_cli  # noqa: E402

SPEC = os.path.join(SEED, "jupyter-ds", "docker-compose.yaml")


def main():
    # ---- the walk-through, as Tycho's README runs it (no tokens, loopback)
    with Server() as s:
        env = {"TYCHO_USER": "renci"}
        guids = []
        for _ in range(3):
            r = run_cli(["up", "-f", SPEC], server=s, env=env, check_rc=0)
            lines = r.stdout.strip().splitlines()
            check(lines[0].split() == ["SERVICE", "GUID", "IP_ADDRESS", "PORT"], "up header",
                  r.stdout)
            row = lines[1].split()
            check(row[0].startswith("jupyter-ds-") and re.fullmatch("[0-9a-f]{32}", row[1]),
                  "up row", r.stdout)
            check(re.fullmatch(r"\d+\.\d+\.\d+\.\d+", row[2]) and row[3] == "8888", "up address",
                  r.stdout)
            guids.append(row[1])
        r = run_cli(["status"], server=s, env=env, check_rc=0)
        lines = r.stdout.strip().splitlines()
        check(lines[0].split() == ["SYSTEM", "GUID", "IP_ADDRESS", "PORT", "CREATION_TIME"],
              "status header", r.stdout)
        check(len(lines) == 4, "status lists three systems", r.stdout)
        check(sorted(l.split()[1] for l in lines[1:]) == sorted(guids), "status guids", r.stdout)
        check(all(l.split()[3] == "8888" for l in lines[1:]), "status ports", r.stdout)
        r = run_cli(["status", "--terse"], server=s, env=env, check_rc=0)
        terse = r.stdout.split()
        check(sorted(terse) == sorted(guids), "status --terse", r.stdout)
        r = run_cli(["status", guids[0]], server=s, env=env, check_rc=0)
        check(len(r.stdout.strip().splitlines()) == 2, "status GUID", r.stdout)
        r = run_cli(["down"] + terse, server=s, env=env, check_rc=0)
        check(sorted(r.stdout.split()) == sorted(guids), "down prints each guid", r.stdout)
        r = run_cli(["status"], server=s, env=env, check_rc=0)
        check(r.stdout.strip() == "None running", "None running", r.stdout)
        # The sessions are kept as history, with when they stopped and who stopped them
        # (not the columns of `tycho sessions`).
        for g in guids:
            s.wait_state(g, ["stopped"])
        r = run_cli(["history", "--state", "stopped"], server=s, check_rc=0)
        check(sum(g in r.stdout for g in guids) == 3, "history keeps them", r.stdout)
        head = r.stdout.splitlines()[0].split()
        check(head[:8] == ["ID", "APP", "USER", "STATE", "STARTED", "STOPPED", "LIVED", "STOPPED"]
              and "URL" not in head, "history header", r.stdout)
        row = [l for l in r.stdout.splitlines() if guids[0] in l][0]
        check(re.search(r" stopped +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \d{4}-\d\d-\d\d "
                        r"\d\d:\d\d:\d\d  \S+ +anonymous: deleted$", row),
              "history row: start, stop, lifetime, who and why", row)
        # One session's history: its transitions, oldest first, ending in stopped.
        r = run_cli(["history", guids[0]], server=s, check_rc=0)
        steps = [l.split()[1:3] for l in r.stdout.splitlines()[1:]]
        check(r.stdout.splitlines()[0].split()[:5] == ["AT", "FROM", "TO", "BY", "REASON"]
              and steps and steps[0] == ["-", "requested"]
              and steps[-1] == ["stopping", "stopped"]
              and any(st[1] == "stopping" and st[0] != "stopping" for st in steps),
              "history SID shows transitions", r.stdout)
        r = run_cli(["history", "0" * 32], server=s)
        check(r.returncode == 1 and "404" in r.stderr, "history of an unknown session", r.stderr)
        # No user to act for: an empty $USER is an error naming what to set, never
        # a made-up user.
        noone = {"USER": "", "TYCHO_USER": ""}
        _, _, before = s.request("GET", "/v1/sessions")
        for args in (["status"], ["up", "-f", SPEC]):
            r = run_cli(args, server=s, env=noone)
            check(r.returncode == 2 and "TYCHO_USER" in r.stderr and "--user" in r.stderr,
                  "%s without a user" % args[0], (r.returncode, r.stderr))
        r = run_cli(["status"], server=s, env={"USER": "", "TYCHO_USER": "carol"}, check_rc=0)
        check(r.stdout.strip() == "None running", "TYCHO_USER alone names the user", r.stdout)
        _, _, after = s.request("GET", "/v1/sessions")
        check(after["total"] == before["total"], "up without a user launched nothing",
              (before["total"], after["total"]))
        # Errors: a missing spec file and an unknown guid.
        r = run_cli(["up", "-f", "/nonexistent/spec.yaml"], server=s, env=env)
        check(r.returncode == 1 and "nonexistent" in r.stderr, "up missing file", r.stderr)
        r = run_cli(["down", "0" * 32], server=s, env=env)
        check(r.returncode == 1 and '"status":"error"' in r.stdout, "down unknown", r.stdout)

    # ---- tokens and the /v1 commands (one directory for two servers in turn)
    tmp = tempfile.mkdtemp(prefix="tyapi-cli-")
    with Server(tmp=tmp) as s:
        r = run_cli(["token", "create", "--db", s.db, "--role", "admin", "--name", "ops"],
                    check_rc=0)
        admin = r.stdout.strip()
        check(re.fullmatch("tyt_[0-9a-f]{64}", admin), "token format", r.stdout)
        r = run_cli(["token", "create", "--db", s.db, "--role", "user", "--user", "alice"],
                    check_rc=0)
        alice = r.stdout.strip()
        r = run_cli(["token", "create", "--db", s.db, "--role", "user"])
        check(r.returncode != 0 and "--user" in r.stderr, "user token needs --user", r.stderr)
        r = run_cli(["token", "create", "--db", s.db, "--role", "root"])
        check(r.returncode != 0 and "role" in r.stderr, "bad role", r.stderr)
        r = run_cli(["token", "list", "--db", s.db], check_rc=0)
        check("ops" in r.stdout and "alice" in r.stdout and admin not in r.stdout,
              "token list shows no secrets", r.stdout)
        time.sleep(0.2)
        r = run_cli(["launch", "web"], server=s, token=alice, check_rc=0)
        sid = r.stdout.split()[0]
        check(re.fullmatch("[0-9a-f]{32}", sid) and "alice" in r.stdout, "launch", r.stdout)
        r = run_cli(["launch", "web", "--user", "bob"], server=s, token=admin, check_rc=0)
        bob_sid = r.stdout.split()[0]
        r = run_cli(["sessions"], server=s, token=alice, check_rc=0)
        check(sid in r.stdout and bob_sid not in r.stdout, "alice sees her own", r.stdout)
        r = run_cli(["sessions", "--all", "--limit", "1"], server=s, token=admin, check_rc=0)
        check(sid in r.stdout and bob_sid in r.stdout, "admin pages through all", r.stdout)
        r = run_cli(["history", "--user", "bob"], server=s, token=alice)
        check(r.returncode == 1 and "403" in r.stderr, "history needs admin", r.stderr)
        r = run_cli(["history", "--user", "bob", "--json"], server=s, token=admin, check_rc=0)
        check(bob_sid in r.stdout and sid not in r.stdout, "history --user", r.stdout)
        s.wait_state(sid, ["running"], token=admin)
        r = run_cli(["modify", sid, "--label", "k=v", "--cpu", "0.5"], server=s, token=alice,
                    check_rc=0)
        check("Modified" in r.stdout, "modify", r.stdout)
        r = run_cli(["modify", bob_sid, "--label", "k=v"], server=s, token=alice)
        check(r.returncode == 1 and "404" in r.stderr, "alice cannot modify bob's", r.stderr)
        r = run_cli(["down", bob_sid], server=s, token=alice)
        check(r.returncode == 1, "alice cannot stop bob's", r.stdout)
        # revoke: the token stops working (cache 0 in this server? use a new server)
        tid = [l.split()[0] for l in run_cli(["token", "list", "--db", s.db]).stdout.splitlines()
               if "alice" in l][0]
        r = run_cli(["token", "revoke", "--db", s.db, tid], check_rc=0)
        r = run_cli(["token", "revoke", "--db", s.db, "999"])
        check(r.returncode == 1, "revoke unknown id", r.stderr)
    with Server(tmp=tmp) as s2:
        st, _, e = s2.request("GET", "/v1/sessions", token=alice)
        check(st == 401, "revoked token refused", (st, e))
        st, _, e = s2.request("GET", "/v1/sessions", token=admin)
        check(st == 200 and e["total"] == 2, "sessions survive a restart", e)
        # Without a token, once tokens exist, nothing but public routes.
        st, _, e = s2.request("GET", "/v1/sessions")
        check(st == 401, "anonymous refused once tokens exist", e)
    shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
