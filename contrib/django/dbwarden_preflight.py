#!/usr/bin/env python3
"""dbwarden preflight for a Django app, with nothing to install (Python's standard library only).

Asks Django for the unapplied migrations and the SQL of each (as `migrate --plan` and `sqlmigrate` would),
sends them to a running `dbwarden serve` (POST /preflight), prints what it found, and exits like
`dbwarden preflight --strict`:

    0  go (with --strict: nothing blocks; without --strict: always 0)
    1  dbwarden failed (could not be reached, refused the token, Django failed) -- with --strict only
    2  the database is unreachable -- with --strict only
    3  blocked: destructive SQL pending, or the database was replaced or emptied -- with --strict only

Pre-deploy command:  python dbwarden_preflight.py --strict && python manage.py migrate

Environment: DBWARDEN_URL (e.g. http://dbwarden.railway.internal:8080), DBWARDEN_API_TOKEN (the service's),
DBWARDEN_ALLOW_DESTRUCTIVE=1 to let one reviewed deploy through. The same file is served by dbwarden at
GET /preflight/django.py (the version that matches the service) and lives in the dbwarden repository at
contrib/django/dbwarden_preflight.py.
"""

import argparse
import json
import os
import runpy
import sys
import urllib.error
import urllib.request

EXIT_OK, EXIT_FAILED, EXIT_UNREACHABLE, EXIT_BLOCKED = 0, 1, 2, 3
# The service writes a newline every few seconds while it works (a backup may take minutes), so a silent
# connection means a dead one: each read waits at most this long.
READ_TIMEOUT_S = 120
_pending = []


def _say(text):
    sys.stderr.write("dbwarden preflight: %s\n" % text)
    sys.stderr.flush()


def _print(text):
    # Emoji in the report must not crash a deploy on an ASCII-only terminal.
    data = (text + "\n").encode(sys.stdout.encoding or "utf-8", "replace")
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


def _truthy(value):
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _collect(database):
    """Runs inside `manage.py shell`: Django is set up exactly as the app sets it up."""
    from django.db import connections
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[database])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    for migration, backwards in plan:
        # What `sqlmigrate` prints: the SQL of one migration against the state before it.
        sql = executor.loader.collect_sql([(migration, backwards)])
        _pending.append({"name": "%s.%s" % (migration.app_label, migration.name), "sql": "\n".join(sql) + "\n"})


def pending_migrations(manage, database):
    """The unapplied migrations and their SQL: [{"name": "app.0002_x", "sql": "..."}], in the order migrate runs them."""
    manage = os.path.abspath(manage)
    if not os.path.isfile(manage):
        raise RuntimeError("%s not found (run this in the app directory or pass --manage)" % manage)
    sys.modules["_dbwarden_preflight"] = sys.modules[__name__]
    sys.path.insert(0, os.path.dirname(manage))
    code = "import _dbwarden_preflight as d; d._collect(%r)" % database
    argv, stdout = sys.argv, sys.stdout
    # manage.py runs as the app runs it (its settings module, its .env loading); whatever it prints is not ours.
    sys.argv, sys.stdout = [manage, "shell", "-v", "0", "-c", code], sys.stderr
    try:
        runpy.run_path(manage, run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            raise RuntimeError("manage.py shell exited with %s" % e.code)
    finally:
        sys.argv, sys.stdout = argv, stdout
    return list(_pending)


def post_preflight(url, token, body):
    """POST /preflight; returns (HTTP status, parsed JSON or None, raw text)."""
    req = urllib.request.Request(
        url.rstrip("/") + "/preflight",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + token},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=READ_TIMEOUT_S) as res:
            status, raw = res.status, res.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    text = raw.decode("utf-8", "replace")
    try:
        # The answer may start with keep-alive newlines: JSON allows leading whitespace.
        return status, json.loads(text), text
    except ValueError:
        return status, None, text


def main(argv=None):
    ap = argparse.ArgumentParser(
        description="dbwarden preflight for Django: lint the unapplied migrations, back up, warn the team.",
    )
    ap.add_argument("--strict", action="store_true", help="exit non-zero when the deploy must stop (see codes)")
    ap.add_argument("--backup", action="store_true", help="take a backup even when nothing destructive is pending")
    ap.add_argument("--url", default=os.environ.get("DBWARDEN_URL"), help="dbwarden's URL (default: DBWARDEN_URL)")
    ap.add_argument("--manage", default="manage.py", help="path of manage.py (default: ./manage.py)")
    ap.add_argument("--database", default="default", help="Django database alias (default: default)")
    ap.add_argument("--timeout", type=int, default=600, help="seconds dbwarden may take (default 600)")
    ap.add_argument("--json", action="store_true", help="print the verdict as JSON instead of text")
    ap.add_argument("--pending-json", action="store_true", help="only print the pending migrations as JSON")
    args = ap.parse_args(argv)
    failed = EXIT_FAILED if args.strict else EXIT_OK

    if args.pending_json:
        try:
            migrations = pending_migrations(args.manage, args.database)
        except Exception as e:  # noqa: BLE001 -- any failure of the app's Django is reported, not raised
            sys.stderr.write("%s: %s\n" % (type(e).__name__, e))
            return EXIT_FAILED
        _print(json.dumps(migrations))
        return EXIT_OK

    token = os.environ.get("DBWARDEN_API_TOKEN", "").strip()
    if not args.url or not token:
        _say("set DBWARDEN_URL and DBWARDEN_API_TOKEN (the dbwarden service's) to run the preflight")
        return failed

    body = {
        "migrations": [],
        "strict": args.strict,
        "backup": args.backup,
        "allowDestructive": _truthy(os.environ.get("DBWARDEN_ALLOW_DESTRUCTIVE")),
        "timeoutSeconds": args.timeout,
        "source": "django",
    }
    try:
        body["migrations"] = pending_migrations(args.manage, args.database)
    except Exception as e:  # noqa: BLE001
        # dbwarden still checks the database, backs up and posts; the verdict names what Django said.
        body["pendingError"] = "asking Django for unapplied migrations failed: %s: %s" % (type(e).__name__, e)

    try:
        status, verdict, text = post_preflight(args.url, token, body)
    except (OSError, urllib.error.URLError) as e:
        _say("cannot reach dbwarden at %s: %s" % (args.url, getattr(e, "reason", e)))
        return failed
    if status != 200 or not isinstance(verdict, dict) or "exitCode" not in verdict:
        reason = verdict.get("error") if isinstance(verdict, dict) else text.strip()[:300]
        _say("dbwarden answered %s: %s" % (status, reason))
        return failed
    if args.json:
        _print(json.dumps({k: v for k, v in verdict.items() if k != "text"}, indent=2))
    else:
        _print(verdict.get("text", ""))
    return int(verdict["exitCode"])


if __name__ == "__main__":
    sys.exit(main())
