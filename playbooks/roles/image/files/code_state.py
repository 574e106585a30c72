"""Says what the image role's code tasks need to know after the checkout, in one
remote run: whether the virtualenv exists, the requirements file's checksum, and
whether these requirements are stamped as installed in that virtualenv.

Two stats and the virtualenv's own `creates` check were three remote tasks of a
few SSH round trips each on every deploy that changes the code; this is one.
Reads JSON on stdin:

  {"venv": the virtualenv's path, "requirements": the requirements file's path}

and prints a JSON object:

  {"venv": true|false, "checksum": the file's SHA-1 | null (no such file),
   "stamped": true|false}

The checksum is SHA-1, as the stat module's default that names the stamps
(`.argos-requirements-<sha1>` in the virtualenv) everywhere else: stamps written
before stay valid, and the converged check's probe computes the same name.
Python 3 standard library only (it runs with the server's python3).
"""
import hashlib
import json
import os
import sys


def checksum_of(path):
    """The file's SHA-1, or None when there is no such file."""
    try:
        with open(path, "rb") as handle:
            return hashlib.sha1(handle.read()).hexdigest()
    except FileNotFoundError:
        return None


def main():
    want = json.load(sys.stdin)
    venv = want["venv"]
    checksum = checksum_of(want["requirements"])
    stamped = checksum is not None and os.path.exists(os.path.join(venv, f".argos-requirements-{checksum}"))
    print(json.dumps({
        "venv": os.path.exists(os.path.join(venv, "bin", "python")),
        "checksum": checksum,
        "stamped": stamped,
    }))


if __name__ == "__main__":
    main()
