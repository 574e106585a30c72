"""Compares an app server or worker with what a deploy would make of it, in one remote run.

Reads the wanted state as JSON on stdin (built on the controller by the converged
role from the image, app_common and app (or worker) roles: rendered templates' checksums,
modes, owners, links, units, packages, the code's commit) and prints a JSON object:

  {"drift": [...], "code": [...], "config": [...]}

"drift" lists what differs outside the code and the app's configuration, "code" what
differs in the code (the checkout, its commit, the virtualenv and its requirements),
"config" what differs in the app's configuration (app_common's directory and files,
given apart as "config" on an app server). When a configuration file differs, the
state of the units the configuration's restart repairs ("config" "units": uWSGI) and
the app's health check count under "config" too: a server prepared before its
database existed (playbooks/prepare.yml) has neither the files nor uWSGI running, and
writing the one and restarting the other is all it lacks. Otherwise they count as
drift: a stopped uWSGI with its configuration as wanted needs the full run. All
empty: nothing to do. Anything this script cannot establish counts as a difference: a wrong "same"
would leave a server unrepaired, a wrong "differs" only costs the full run.
Python 3 standard library only (it runs with the server's python3).
"""
import grp
import hashlib
import json
import os
import pwd
import re
import stat
import subprocess
import sys
import urllib.error
import urllib.request

TIMEOUT_S = 60


def run(argv, **kwargs):
    """Runs a command; returns (exit status, stdout), (None, error) if it could not run."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S, check=False, **kwargs)
    except (OSError, subprocess.SubprocessError) as error:
        return None, str(error)
    return done.returncode, done.stdout


def check_owner(path, st, want, found):
    """Appends to found where path's owner, group or mode differ from want."""
    try:
        owner = pwd.getpwuid(st.st_uid).pw_name
        group = grp.getgrgid(st.st_gid).gr_name
    except KeyError:
        found.append(f"{path}: owner or group has no name")
        return
    if owner != want["owner"] or group != want["group"]:
        found.append(f"{path}: owned by {owner}:{group}, wanted {want['owner']}:{want['group']}")
    if stat.S_IMODE(st.st_mode) != int(want["mode"], 8):
        found.append(f"{path}: mode {stat.S_IMODE(st.st_mode):04o}, wanted {want['mode']}")


def check_dirs(dirs, found):
    for want in dirs:
        path = want["path"]
        try:
            st = os.lstat(path)
        except OSError:
            found.append(f"{path}: missing")
            continue
        if not stat.S_ISDIR(st.st_mode):
            found.append(f"{path}: not a directory")
            continue
        check_owner(path, st, want, found)


def check_files(files, found):
    for want in files:
        path = want["path"]
        try:
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                found.append(f"{path}: not a regular file")
                continue
            with open(path, "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
        except OSError:
            found.append(f"{path}: missing")
            continue
        if digest != want["sha256"]:
            found.append(f"{path}: content differs")
        check_owner(path, st, want, found)


def check_links(links, found):
    for want in links:
        try:
            target = os.readlink(want["path"])
        except OSError:
            found.append(f"{want['path']}: not a link")
            continue
        if target != want["target"]:
            found.append(f"{want['path']}: links to {target}, wanted {want['target']}")


def check_absent(paths, found):
    for path in paths:
        if os.path.lexists(path):
            found.append(f"{path}: present, wanted absent")


def check_packages(packages, found):
    if not packages:
        return
    status, out = run(["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\\n", *packages])
    if status is None:
        found.append(f"packages: dpkg-query failed ({out})")
        return
    installed = {line.split(" ")[0] for line in out.splitlines() if line.endswith(" installed")}
    for package in packages:
        if package not in installed:
            found.append(f"package {package}: not installed")


def check_user(want, found):
    try:
        user = pwd.getpwnam(want["name"])
        group = grp.getgrnam(want["group"])
    except KeyError:
        found.append(f"user or group {want['name']}: missing")
        return
    if user.pw_gid != group.gr_gid or user.pw_dir != want["home"] or user.pw_shell != want["shell"]:
        found.append(f"user {want['name']}: group, home or shell differ")


def check_units(units, found):
    for want in units:
        name = want["name"]
        status, out = run(["systemctl", "show", "-p", "LoadState", "-p", "ActiveState",
                           "-p", "UnitFileState", "-p", "NeedDaemonReload", name])
        if status != 0:
            found.append(f"{name}: systemctl show failed")
            continue
        props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        active = props.get("ActiveState")
        if want["state"] == "masked":
            if "masked" not in (props.get("LoadState"), props.get("UnitFileState")) or active in (
                "active", "activating", "reloading"
            ):
                found.append(f"{name}: {active}, {props.get('UnitFileState')}, wanted stopped and masked")
        elif want["state"] == "stopped":
            # A release build's worker: installed, neither running nor enabled.
            if active in ("active", "activating", "reloading") or props.get("UnitFileState") != "disabled" \
                    or props.get("NeedDaemonReload") != "no":
                found.append(
                    f"{name}: {active}, {props.get('UnitFileState')}, daemon reload needed "
                    f"{props.get('NeedDaemonReload')}, wanted stopped and disabled"
                )
        elif active != "active" or props.get("UnitFileState") != "enabled" or props.get("NeedDaemonReload") != "no":
            found.append(
                f"{name}: {active}, {props.get('UnitFileState')}, daemon reload needed "
                f"{props.get('NeedDaemonReload')}, wanted active and enabled"
            )


def check_commands(commands, found):
    for argv in commands:
        status, _ = run(argv)
        if status != 0:
            found.append(f"{' '.join(argv)}: exit status {status}")


def check_answers(url, found):
    """The app answers its health check here, as app.yml's last task checks after a deploy."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        found.append(f"{url}: no answer ({error})")
        return
    if status != 200:
        found.append(f"{url}: HTTP {status}, wanted 200")


def check_cloud_init(found):
    if not os.path.exists("/usr/bin/cloud-init"):
        return
    status, out = run(["cloud-init", "status"])
    if "status: done" not in out:
        found.append("cloud-init: not done")


def resolve_ref(want):
    """The commit the git module would check out for want["ref"], or None if unsure."""
    ref = want["ref"]
    if re.fullmatch(r"[0-9a-f]{40}", ref):
        return ref
    # As the app user, with its home (its SSH keys), as the git task runs.
    # No prompt for credentials: it would wait for an answer that never comes.
    status, out = run(["runuser", "-u", want["user"], "--", "env", f"HOME={want['home']}", "GIT_TERMINAL_PROMPT=0",
                       "git", "ls-remote", want["repo"], ref])
    if status != 0:
        return None
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    # The git module's order: HEAD, a branch, then a tag (the commit it points to).
    for name in ([ref] if ref == "HEAD" else []) + [f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"]:
        if name in refs:
            return refs[name]
    return None


def git(want, *args):
    return run(["git", "-c", f"safe.directory={want['path']}", "-C", want["path"], *args])


def check_code(want, venv, found):
    path = want["path"]
    if not os.path.isdir(os.path.join(path, ".git")):
        found.append(f"{path}: no checkout")
        return
    status, url = git(want, "config", "--get", "remote.origin.url")
    if status != 0 or url.strip() != want["repo"]:
        found.append(f"{path}: another repository")
    status, head = git(want, "rev-parse", "HEAD")
    target = resolve_ref(want)
    if status != 0 or target is None or head.strip() != target:
        found.append(f"{path}: at {head.strip()[:12]}, wanted {want['ref']} ({(target or 'unresolved')[:12]})")
    # As the git module does (force: false): untracked files are not local changes.
    status, out = git(want, "status", "--porcelain")
    if status != 0 or any(not line.startswith("??") for line in out.splitlines()):
        found.append(f"{path}: local changes")
    if not os.path.exists(os.path.join(venv["path"], "bin", "python")):
        found.append(f"{venv['path']}: no virtualenv")
    requirements = os.path.join(path, venv["requirements"])
    if os.path.exists(requirements):
        with open(requirements, "rb") as handle:
            checksum = hashlib.sha1(handle.read()).hexdigest()
        if not os.path.exists(os.path.join(venv["path"], f".argos-requirements-{checksum}")):
            found.append(f"{venv['path']}: requirements not installed")


def main():
    want = json.load(sys.stdin)
    drift, code = [], []
    config_want = want.get("config", {"dirs": [], "files": [], "units": []})
    config_files = []
    check_files(config_want["files"], config_files)
    config = []
    check_dirs(config_want["dirs"], config)
    config += config_files
    # The units the configuration's restart starts (it is its files' handler), and the
    # app's answer: repaired by that path only when one of its files differs.
    restartable = config if config_files else drift
    if not os.path.isdir("/run/systemd/system"):
        drift.append("not running under systemd")
    check_cloud_init(drift)
    check_packages(want["packages"], drift)
    check_user(want["user"], drift)
    check_dirs(want["dirs"], drift)
    check_files(want["files"], drift)
    # A worker has no links, absent paths, commands or health check.
    check_links(want.get("links", []), drift)
    check_absent(want.get("absent", []), drift)
    check_units([unit for unit in want["units"] if unit["name"] not in config_want["units"]], drift)
    check_units([unit for unit in want["units"] if unit["name"] in config_want["units"]], restartable)
    check_commands(want.get("commands", []), drift)
    if want.get("health_check"):
        check_answers(want["health_check"], restartable)
    check_code(want["git"], want["venv"], code)
    print(json.dumps({"drift": drift, "code": code, "config": config}))


if __name__ == "__main__":
    main()
