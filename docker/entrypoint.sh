#!/bin/sh
# dbwarden's image entrypoint. Railway, Render and Fly mount volumes owned by root, and a container started as
# root would otherwise run dbwarden as root. Started as root: make the store directory writable by the
# unprivileged user and drop to it (setpriv, from util-linux, is in every Debian image). Started as any other
# user (USER, --user, a platform's own uid): run the command as is.
set -eu

if [ "$(id -u)" != 0 ]; then
  exec "$@"
fi

user="${DBWARDEN_RUN_AS:-node}"
uid="$(id -u "$user")"
gid="$(id -g "$user")"
store="${DBWARDEN_STORE:-/data}"
case "$store" in
  s3://*) ;; # nothing on this disk to own
  *)
    mkdir -p "$store"
    # Only when someone else owns it (a fresh root-owned volume): a store full of backups is walked once.
    if [ "$(stat -c %u "$store")" != "$uid" ]; then
      chown -R "$uid:$gid" "$store"
    fi
    ;;
esac

HOME="$(getent passwd "$user" | cut -d: -f6)"
export HOME
exec setpriv --reuid="$uid" --regid="$gid" --init-groups -- "$@"
