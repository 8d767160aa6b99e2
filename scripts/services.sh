#!/usr/bin/env bash
# Start PostgreSQL and Redis if they are installed but not running (commands as on the
# python-svc machines). Never fails: a missing or unstartable service only prints a note.
set -uo pipefail

if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        echo "postgresql: running"
    else
        for version in $(ls /etc/postgresql); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start \
                && echo "postgresql $version: started" \
                || echo "postgresql $version: could not start (ignored)"
        done
    fi
else
    echo "postgresql: not installed (skipped)"
fi

if command -v redis-server >/dev/null; then
    if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
        echo "redis: running"
    else
        mkdir -p /var/lib/redis /var/log/redis 2>/dev/null
        redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
            --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log \
            && echo "redis: started" \
            || echo "redis: could not start (ignored)"
    fi
else
    echo "redis: not installed (skipped)"
fi
exit 0
