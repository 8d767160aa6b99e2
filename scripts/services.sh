#!/usr/bin/env bash
# Start PostgreSQL and Redis if they are installed but not running (commands as on the
# python-svc machines). A service that is not installed is skipped. One that is installed but
# still not reachable afterwards is a note locally and a failure under CI=true (CI's machine
# provides both, and the PostgreSQL, Redis and fault tests need them).
set -uo pipefail

unreachable=()

# wait_for SECONDS COMMAND...: true as soon as COMMAND succeeds
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS >= deadline)) && return 1
        sleep 0.5
    done
}

if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        echo "postgresql: running"
    else
        for version in $(ls /etc/postgresql); do
            pg_ctlcluster --skip-systemctl-redirect "$version" main start \
                && echo "postgresql $version: started" \
                || echo "postgresql $version: could not start"
        done
    fi
    wait_for 30 pg_isready -q -h 127.0.0.1 -p 5432 || unreachable+=("postgresql on 127.0.0.1:5432")
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
            || echo "redis: could not start"
    fi
    wait_for 15 redis-cli -h 127.0.0.1 -p 6379 ping || unreachable+=("redis on 127.0.0.1:6379")
else
    echo "redis: not installed (skipped)"
fi

if ((${#unreachable[@]})); then
    for service in "${unreachable[@]}"; do echo "NOT REACHABLE: $service" >&2; done
    if [[ "${CI:-}" == "true" ]]; then
        echo "services: CI needs them reachable: failing" >&2
        exit 1
    fi
fi
exit 0
