"""Asks the environment's database what the database role needs, in one remote run.

A wait and two lookups as tasks of their own cost a few SSH round trips each; run
here, on the server, they cost none. Reads JSON on stdin:

  {"host": ..., "port": ..., "maintenance_db": ..., "name": ..., "timeout": seconds}

waits until the database accepts connections (pg_isready every "poll" seconds,
default 5, up to "timeout"), then prints a JSON object:

  {"exists": true|false, "extensions": [...]}

whether the app's database exists and, if it does, the extensions it has. libpq's
other settings (PGUSER, PGPASSWORD, PGSSLMODE, ...) come from the environment:
the password never goes through argv or stdin. On failure it exits non-zero with
one line on stderr that names what failed (psql's message: no password in it).
Python 3 standard library only (it runs with the server's python3).
"""
import json
import subprocess
import sys
import time

POLL_S = 5
QUERY_TIMEOUT_S = 120


def fail(message):
    """Stops with a one-line message for the role's failure task."""
    sys.stderr.write(message.strip() + "\n")
    sys.exit(1)


def wait_until_ready(want):
    """Polls pg_isready until the database accepts connections, or fails at the deadline."""
    poll = float(want.get("poll", POLL_S))
    deadline = time.monotonic() + float(want["timeout"])
    while True:
        ready = subprocess.run(
            ["pg_isready", "--quiet", "-h", str(want["host"]), "-p", str(want["port"]), "-d", want["maintenance_db"]],
            check=False,
        )
        if ready.returncode == 0:
            return
        if time.monotonic() + poll > deadline:
            # pg_isready's statuses: 1 rejecting connections (starting up), 2 no response, 3 no attempt made.
            fail(
                f"the database at {want['host']}:{want['port']} did not accept connections within {want['timeout']} s "
                f"(pg_isready exit {ready.returncode}: 1 rejecting, 2 no response, 3 bad parameters)"
            )
        time.sleep(poll)


def query(database, sql, variables=()):
    """One psql run, unaligned tuples only; its lines, or a failure naming psql's error."""
    argv = ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"]
    for name, value in variables:
        argv += ["-v", f"{name}={value}"]
    done = subprocess.run(
        argv + ["-d", database],
        input=sql, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S, check=False,
    )
    if done.returncode != 0:
        fail(f"psql on database {database} exited {done.returncode}: {done.stderr.strip() or 'no message'}")
    return [line for line in done.stdout.splitlines() if line]


def main():
    want = json.load(sys.stdin)
    wait_until_ready(want)
    # SQL through stdin so that psql's :'var' quoting applies to the name.
    found = query(
        want["maintenance_db"],
        "SELECT count(*) FROM pg_database WHERE datname = :'name';",
        [("name", want["name"])],
    )
    exists = found == ["1"]
    extensions = query(want["name"], "SELECT extname FROM pg_extension ORDER BY extname;") if exists else []
    json.dump({"exists": exists, "extensions": extensions}, sys.stdout)


if __name__ == "__main__":
    main()
