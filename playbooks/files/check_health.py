"""Waits, on an app server, until the app answers its health check with HTTP 200.

app.yml's last task runs it after the restarts, before a rolling deploy puts the
server back in the load balancer; on the code path, the restart handler runs it
right after `systemctl restart`, in the same remote command, and that task skips.
The `uri` module with Ansible's retries cost about 10 SSH round trips for one
attempt and a module run per retry; polling here costs one remote command
whatever the number of attempts.

Usage: check_health.py URL ATTEMPTS DELAY_SECONDS

Each attempt waits up to 5 s for an answer. Exits 0 at the first 200; otherwise,
after ATTEMPTS attempts DELAY_SECONDS apart, exits 1 and says on stderr what the
last attempt got (a status, or why there was no answer). Python 3 standard library
only (it runs with the server's python3).
"""
import sys
import time
import urllib.error
import urllib.request

ATTEMPT_TIMEOUT_S = 5


def ask(url):
    """The status the app answered with, or why it did not answer."""
    try:
        with urllib.request.urlopen(url, timeout=ATTEMPT_TIMEOUT_S) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError) as error:
        return f"no answer ({error})"


def main():
    url, attempts, delay = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    last = None
    for attempt in range(attempts):
        if attempt > 0:
            time.sleep(delay)
        last = ask(url)
        if last == 200:
            return 0
    got = f"HTTP {last}" if isinstance(last, int) else last
    print(f"{url} did not answer 200 in {attempts} attempts {delay:g} s apart: the last got {got}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
