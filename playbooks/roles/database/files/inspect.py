"""Asks the environment's database what the database role needs, in one remote run,
and runs the app's migrations there when nothing has to be created first.

A wait, two lookups and the migrations as tasks of their own cost a few SSH round
trips each; run here, on the server, they cost none. Reads JSON on stdin:

  {"host": ..., "port": ..., "maintenance_db": ..., "name": ..., "timeout": seconds,
   "extensions": [the extensions the app wants],
   "migrate": {"argv": [...], "chdir": ..., "user": ...}}   (no "migrate", or an empty argv: none)

waits until the database accepts connections (pg_isready every "poll" seconds,
default 5, up to "timeout"), then looks up whether the app's database exists and
its extensions. When "migrate" has a command and the database exists with every wanted
extension (a deploy of an environment that has its database: nearly all of them),
it runs the migration command as "user" in "chdir", with this process's environment
(the task's: DATABASE_URL and PGDATABASE included). It prints a JSON object:

  {"exists": true|false, "extensions": [...],
   "migration": {"stdout": ..., "stderr": ...} | null}

"migration" is null when it did not run them: the role creates what is missing,
then runs its own migration task. libpq's settings (PGUSER, PGPASSWORD, PGSSLMODE,
...) come from the environment: the password never goes through argv or stdin. On
failure it exits non-zero with a message on stderr that names what failed (psql's
message, or the migrations' output: no password of ours in either). Python 3
standard library only (it runs with the server's python3).
"""
import json
import os
import pwd
import subprocess
import sys
import time

POLL_S = 5
QUERY_TIMEOUT_S = 120
# The migrations have no bound of ours: Ansible's own task had none either.


def fail(message):
    """Stops with a message for the role's failure task."""
    sys.stderr.write(message.strip() + "\n")
    sys.exit(1)


def run(argv, **options):
    """subprocess.run, with a program that cannot start said plainly instead of a traceback."""
    try:
        return subprocess.run(argv, check=False, **options)
    except FileNotFoundError as error:
        if argv[0] in ("pg_isready", "psql"):
            fail(
                f"{argv[0]} is not installed on this server: the database role needs the PostgreSQL client "
                "(postgresql-client, in the image role's image_packages; run argos deploy --full to install it)"
            )
        fail(f"could not run {' '.join(argv)}: {error.strerror} ({error.filename})")
    except PermissionError as error:
        fail(f"could not run {' '.join(argv)}: {error.strerror} ({error.filename})")


def wait_until_ready(want):
    """Polls pg_isready until the database accepts connections, or fails at the deadline."""
    poll = float(want.get("poll", POLL_S))
    deadline = time.monotonic() + float(want["timeout"])
    while True:
        ready = run(["pg_isready", "--quiet", "-h", str(want["host"]), "-p", str(want["port"]), "-d", want["maintenance_db"]])
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
    done = run(argv + ["-d", database], input=sql, capture_output=True, text=True, timeout=QUERY_TIMEOUT_S)
    if done.returncode != 0:
        fail(f"psql on database {database} exited {done.returncode}: {done.stderr.strip() or 'no message'}")
    return [line for line in done.stdout.splitlines() if line]


def as_user(name):
    """subprocess options and environment that run a command as `name`, as `become_user` did
    (its uid, gid, groups and HOME); none when this process already runs as that user."""
    account = pwd.getpwnam(name)
    env = dict(os.environ, HOME=account.pw_dir, USER=name, LOGNAME=name)
    if os.geteuid() == account.pw_uid:
        return {"env": env}
    groups = os.getgrouplist(name, account.pw_gid)
    return {"env": env, "user": account.pw_uid, "group": account.pw_gid, "extra_groups": groups}


def migrate(spec):
    """Runs the migration command; its output, or a failure that shows it (it holds no secret of ours)."""
    done = run(spec["argv"], cwd=spec["chdir"], stdin=subprocess.DEVNULL, capture_output=True, text=True, **as_user(spec["user"]))
    if done.returncode != 0:
        output = "\n".join(part for part in (done.stdout.strip(), done.stderr.strip()) if part)
        fail(f"the migrations ({' '.join(spec['argv'])}) exited {done.returncode}:\n{output or 'no output'}")
    return {"stdout": done.stdout, "stderr": done.stderr}


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
    complete = exists and set(want.get("extensions", [])) <= set(extensions)
    wanted = want.get("migrate") or {}
    migration = migrate(wanted) if wanted.get("argv") and complete else None
    json.dump({"exists": exists, "extensions": extensions, "migration": migration}, sys.stdout)


if __name__ == "__main__":
    main()
