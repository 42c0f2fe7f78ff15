"""A launch refused by a full limit names what holds it (docs/api.md, "429 for a
full limit"): the app's per-user `count` (the bundled registry's jupyterlab
has count 1) and `sessions.max_per_user` answer 429 with `error.limit` and
the user's own live sessions in `error.sessions`, the message names the
session and how to stop it, and `tycho launch` prints them; the platform-wide
limit names nobody's sessions; stopping the holder frees the slot."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tyapi import SRC, Server, check, finish, run_cli  # noqa: E402

BUNDLED = os.path.join(SRC, "registry")


def launch(s, app, user):
    return s.request("POST", "/v1/sessions", {"app": app, "username": user})


def main():
    # Loopback without tokens: the caller names the user.
    with Server(registry=BUNDLED, config="sessions:\n  max_per_user: 2\n") as s:
        st, _, first = launch(s, "jupyterlab", "alice")
        check(st == 201, "first launch", (st, first))
        sid = first["id"]

        # The app's count (1): the second launch names the first session.
        st, hd, e = launch(s, "jupyterlab", "alice")
        err = (e or {}).get("error", {})
        check(st == 429 and err.get("code") == "limit", "second launch is 429", (st, e))
        check(err.get("limit") == "app", "error.limit names the app's count", err)
        check([x["id"] for x in err.get("sessions", [])] == [sid], "error.sessions is the first",
              err)
        check(err.get("sessions") and err["sessions"][0]["url"] == first["url"] and
              err["sessions"][0]["app"] == "jupyterlab", "the holder as GET shows it", err)
        msg = err.get("message", "")
        check("session %s" % sid in msg and "DELETE /v1/sessions/%s" % sid in msg,
              "the message names the session and how to stop it", msg)

        # The CLI prints the holder and the command that stops it.
        r = run_cli(["launch", "jupyterlab", "--user", "alice"], server=s)
        check(r.returncode == 1 and "HTTP 429" in r.stderr, "cli launch refused", r.stderr)
        check(re.search(r"^  %s  \w+  https?://\S+/%s/$" % (sid, sid), r.stderr, re.M),
              "cli lists the holder with its state and URL", r.stderr)
        check("tycho down %s" % sid in r.stderr, "cli says how to stop it", r.stderr)

        # Another user is not held by alice's session.
        st, _, other = launch(s, "jupyterlab", "bob")
        check(st == 201, "bob launches the same app", (st, other))

        # The per-user limit (2): both of alice's sessions hold it.
        st, _, second = launch(s, "nginx", "alice")
        check(st == 201, "alice's second app", (st, second))
        st, _, e = launch(s, "rstudio", "alice")
        err = (e or {}).get("error", {})
        check(st == 429 and err.get("limit") == "user", "per-user limit", (st, e))
        check(sorted(x["id"] for x in err.get("sessions", [])) == sorted([sid, second["id"]]),
              "the per-user limit lists the user's live sessions", err)
        check(other["id"] not in err.get("message", "") and
              all(x["user"] == "alice" for x in err.get("sessions", [])),
              "never another user's session", err)

        # Stopping the holder frees the app's slot.
        st, _, _ = s.request("DELETE", "/v1/sessions/" + second["id"])
        st, _, _ = s.request("DELETE", "/v1/sessions/" + sid)
        check(st in (200, 202), "stop the holder", st)
        s.wait_state(sid, ["stopped"])
        s.wait_state(second["id"], ["stopped"])
        st, _, again = launch(s, "jupyterlab", "alice")
        check(st == 201, "launch again once stopped", (st, again))

    # The platform-wide limit: other users' sessions are not named.
    with Server(registry=BUNDLED, config="sessions:\n  max_global: 1\n") as s:
        st, _, bob = launch(s, "nginx", "bob")
        check(st == 201, "bob's launch", (st, bob))
        st, _, e = launch(s, "nginx", "alice")
        err = (e or {}).get("error", {})
        check(st == 429 and err.get("limit") == "global" and err.get("sessions") == [],
              "global limit names no sessions", (st, e))
        check(bob["id"] not in err.get("message", ""), "nor in the message", err)
    finish()


if __name__ == "__main__":
    main()
