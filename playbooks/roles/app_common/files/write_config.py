"""Writes the app's configuration as the converged check described it, in one remote run.

Reads on stdin what roles/app_common/tasks/desired.yml made of the configuration:
{"dirs": [{"path", "owner", "group", "mode"}], "files": [{"path", "content", "owner",
"group", "mode", ...}]}, the same text the check compared by checksum. Creates each
directory and sets its owner and mode; writes each file whose content, owner or mode
differ to a temporary file beside it, with its owner and mode set before any content,
then renames it over the old one: a reader sees the old file or the new one, never a
part, and never a file with a password that another user may read. Prints the paths
it changed as a JSON list; on failure, exits 1 with the path and the reason on stderr.
Python 3 standard library only (the server's python3).
"""
import grp
import json
import os
import pwd
import stat
import sys
import tempfile


def ids(want):
    return pwd.getpwnam(want["owner"]).pw_uid, grp.getgrnam(want["group"]).gr_gid


def ensure_dir(want, changed):
    path = want["path"]
    uid, gid = ids(want)
    mode = int(want["mode"], 8)
    if not os.path.isdir(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        # Nobody else may enter it before its owner and mode are set below.
        os.mkdir(path, 0o700)
        changed.append(path)
    found = os.lstat(path)
    if (found.st_uid, found.st_gid) != (uid, gid) or stat.S_IMODE(found.st_mode) != mode:
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        if path not in changed:
            changed.append(path)


def is_as_wanted(path, data, uid, gid, mode):
    try:
        found = os.lstat(path)
        if not stat.S_ISREG(found.st_mode):
            return False
        with open(path, "rb") as handle:
            return handle.read() == data and (found.st_uid, found.st_gid) == (uid, gid) \
                and stat.S_IMODE(found.st_mode) == mode
    except OSError:
        return False


def write_file(want, changed):
    path = want["path"]
    data = want["content"].encode("utf-8")
    uid, gid = ids(want)
    mode = int(want["mode"], 8)
    if is_as_wanted(path, data, uid, gid, mode):
        return
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".argos-")
    try:
        os.fchown(handle, uid, gid)
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    changed.append(path)


def main():
    want = json.load(sys.stdin)
    changed = []
    # A failure names the path and the reason only (never the content: it holds passwords);
    # the role's next task shows it, as the task itself runs under no_log.
    for entry, write in [(entry, ensure_dir) for entry in want["dirs"]] + [(entry, write_file) for entry in want["files"]]:
        try:
            write(entry, changed)
        except KeyError as error:
            sys.exit(f"could not write {entry['path']}: no user or group {error.args[0].split(': ')[-1]}")
        except OSError as error:
            sys.exit(f"could not write {entry['path']}: {error.strerror}")
    print(json.dumps(changed))


if __name__ == "__main__":
    main()
