#!/usr/bin/env bash
# Throwaway Postgres + Redis for one directory, on free 127.0.0.1 ports.
#
#   scripts/services.sh up DIR    start (or reuse) both; write DIR/env and print it:
#                                   DATABASE_URL=postgres://postgres@127.0.0.1:PORT/tinbao?sslmode=disable
#                                   REDIS_URL=redis://127.0.0.1:PORT/0
#   scripts/services.sh down DIR  stop exactly what `up` (or `cluster-up`) started for DIR (idempotent)
#   scripts/services.sh cluster-up DIR
#                                 also start a 3-master Redis Cluster (the same redis-server, in
#                                 cluster mode) and print REDIS_CLUSTER_URL=redis://…?addr=…&addr=…
#   scripts/services.sh pg-stop DIR
#                                 stop only DIR's Postgres (pg_ctl -m fast), as a fault drill does;
#                                 `up DIR` starts it again on the same port
#
# Only the two URL lines go to stdout; progress goes to stderr. Files in DIR:
# pg/ (data), pgsock/, pg.log, redis/ (append-only data), redis.pid, redis.port,
# redis.log, env. Postgres refuses to run as root, so as root it runs as the
# `postgres` user (or a `tinbao-pg` system user that is created if needed).
set -euo pipefail

say() { echo "services: $*" >&2; }
die() { say "$*"; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

[ $# -eq 2 ] && { [ "$1" = up ] || [ "$1" = down ] || [ "$1" = cluster-up ] || [ "$1" = pg-stop ]; } ||
  die "usage: $0 up|down|cluster-up|pg-stop DIR"
cmd=${1//-/_}
{ [ "$cmd" = down ] || [ "$cmd" = pg_stop ]; } && [ ! -d "$2" ] && exit 0
mkdir -p "$2"
DIR=$(cd "$2" && pwd)

# Serialise concurrent up/down calls on the same DIR. Daemons are started with 9>&-
# so they do not inherit (and hold) the lock.
if have flock; then exec 9>"$DIR/.lock"; flock 9; fi

# Postgres binaries: initdb on PATH, else the newest /usr/lib/postgresql/*/bin.
find_pgbin() {
  local d
  if have initdb; then d=$(dirname "$(readlink -f "$(command -v initdb)")"); [ -x "$d/pg_ctl" ] && { echo "$d"; return; }; fi
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}

# Install what is missing with apt when we can; otherwise say what to install.
ensure_installed() {
  local pkgs=()
  [ -n "$(find_pgbin)" ] || pkgs+=(postgresql)
  have redis-server || pkgs+=(redis-server)
  [ ${#pkgs[@]} -eq 0 ] && return
  if [ "$(id -u)" -ne 0 ] || ! have apt-get; then
    die "tinbao needs PostgreSQL 15+ and Redis 7: run \`sudo apt-get install postgresql redis-server\` (Debian/Ubuntu) and try again"
  fi
  say "installing ${pkgs[*]} with apt-get"
  # Keep the packages' own daemons (cluster on 5432, redis on 6379) from starting: we
  # never use them. Only if no policy already exists (Docker images ship one).
  local policy=/usr/sbin/policy-rc.d added=
  if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' >$policy; chmod 755 $policy; added=1; fi
  local rc=0
  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"; } >&2 || rc=$?
  [ -n "$added" ] && rm -f $policy
  [ $rc -eq 0 ] || die "apt-get install ${pkgs[*]} failed"
  [ -n "$(find_pgbin)" ] && have redis-server || die "PostgreSQL or Redis still missing after apt-get install"
}

# Who runs Postgres: ourselves, or an unprivileged user when we are root.
pg_user() {
  if [ "$(id -u)" -ne 0 ]; then id -un
  elif [ -d "$DIR/pg" ] && [ "$(stat -c %U "$DIR/pg")" != root ]; then stat -c %U "$DIR/pg"
  elif id postgres >/dev/null 2>&1; then echo postgres
  else
    id tinbao-pg >/dev/null 2>&1 ||
      useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin tinbao-pg
    echo tinbao-pg
  fi
}

# as_pg CMD...: run CMD as $PGU (from inside DIR, so it never trips over root's cwd).
as_pg() {
  if [ "$PGU" = "$(id -un)" ]; then (cd "$DIR" && "$@")
  elif have runuser; then (cd "$DIR" && runuser -u "$PGU" -- "$@")
  else (cd "$DIR" && su -s /bin/sh "$PGU" -c "$(printf '%q ' "$@")")
  fi
}

pg_running() { [ -f "$DIR/pg/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" status >/dev/null 2>&1; }

redis_pid() {  # prints the pid from DIR/redis.pid if it is a live redis-server
  local pid
  pid=$(cat "$DIR/redis.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server && echo "$pid"
}

redis_ping() {
  if have redis-cli; then [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]
  else (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'PING\r\n' >&3 && read -r -t 2 l <&3 && [[ $l == +PONG* ]]) 2>/dev/null
  fi
}

port_free() {  # nothing listens on 127.0.0.1:$1 (checked without python)
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 1
  ! have ss || [ -z "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
}

# pick_port PREFERRED AVOID: PREFERRED if free, else a free port from a random start
# in 20000-31999 (below Linux's ephemeral range, so outgoing connections don't collide).
pick_port() {
  local p
  if [ -n "$1" ] && [ "$1" != "$2" ] && port_free "$1"; then echo "$1"; return; fi
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 12000))
    [ "$p" != "$2" ] && port_free "$p" && { echo "$p"; return; }
  done
  die "no free port found on 127.0.0.1"
}

prev_port() { sed -n "s|^$1=.*127\.0\.0\.1:\([0-9]*\)/.*|\1|p" "$DIR/env" 2>/dev/null; }

up() {
  ensure_installed
  PGBIN=$(find_pgbin); PGU=$(pg_user)
  chmod 755 "$DIR"
  mkdir -p "$DIR/pg" "$DIR/pgsock" "$DIR/redis"
  touch "$DIR/pg.log"
  if [ "$PGU" != "$(id -un)" ]; then
    chown -R "$PGU:" "$DIR/pg" "$DIR/pgsock" "$DIR/pg.log"
    # Postgres must be able to reach DIR: give o+x to any ancestor that lacks it.
    if ! as_pg test -x "$DIR/pg"; then
      local d=$DIR
      while [ "$d" != / ]; do d=$(dirname "$d"); [ -n "$(find "$d" -maxdepth 0 ! -perm -o+x)" ] && { say "chmod o+x $d (so $PGU can reach $DIR)"; chmod o+x "$d"; }; done
    fi
  fi

  # --- Postgres ---
  local pg_port
  if pg_running; then
    pg_port=$(sed -n 4p "$DIR/pg/postmaster.pid"); say "postgres already running on $pg_port"
  else
    if [ ! -f "$DIR/pg/PG_VERSION" ]; then
      local loc=--no-locale  # C.UTF-8 keeps lower()/upper() right for Vietnamese text
      locale -a 2>/dev/null | grep -qix 'c\.utf-\?8' && loc=--locale=C.UTF-8
      say "initdb $DIR/pg"
      as_pg "$PGBIN/initdb" -D "$DIR/pg" -U postgres --auth=trust -E UTF8 "$loc" >"$DIR/initdb.log" 2>&1 ||
        { cat "$DIR/initdb.log" >&2; die "initdb failed"; }
    fi
    local try ok=
    for try in 1 2 3; do
      pg_port=$(pick_port "$(prev_port DATABASE_URL)" "")
      say "starting postgres on 127.0.0.1:$pg_port"
      if as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w -o \
          "-p $pg_port -k '$DIR/pgsock' -c listen_addresses=127.0.0.1 -c fsync=on" start >&2 9>&-; then ok=1; break; fi
    done
    [ -n "$ok" ] || { tail -n 20 "$DIR/pg.log" >&2; die "postgres did not start (log: $DIR/pg.log)"; }
  fi
  for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$pg_port" && break; sleep 0.1; done
  "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$pg_port" || die "postgres on $pg_port is not accepting connections"
  if [ -z "$("$PGBIN/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -XAtc "select 1 from pg_database where datname = 'tinbao'")" ]; then
    "$PGBIN/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres tinbao
  fi

  # --- Redis ---
  local r_port
  if redis_pid >/dev/null && r_port=$(cat "$DIR/redis.port") && redis_ping "$r_port"; then
    say "redis already running on $r_port"
  else
    local try ok=
    for try in 1 2 3; do
      r_port=$(pick_port "$(prev_port REDIS_URL)" "$pg_port")
      say "starting redis on 127.0.0.1:$r_port"
      rm -f "$DIR/redis.pid"
      redis-server --port "$r_port" --bind 127.0.0.1 --dir "$DIR/redis" --daemonize yes \
        --pidfile "$DIR/redis.pid" --logfile "$DIR/redis.log" --save "" --appendonly yes >&2 9>&- || continue
      for _ in $(seq 100); do redis_ping "$r_port" && { ok=1; break; }; sleep 0.1; done
      [ -n "$ok" ] && break
      local pid; pid=$(redis_pid) && kill "$pid" 2>/dev/null || true   # e.g. hung: give up on it
    done
    [ -n "$ok" ] || { tail -n 20 "$DIR/redis.log" >&2; die "redis did not start (log: $DIR/redis.log)"; }
    echo "$r_port" >"$DIR/redis.port"
  fi

  printf 'DATABASE_URL=postgres://postgres@127.0.0.1:%s/tinbao?sslmode=disable\nREDIS_URL=redis://127.0.0.1:%s/0\n' \
    "$pg_port" "$r_port" | tee "$DIR/env"
}

down() {
  local pid
  if [ -f "$DIR/pg/postmaster.pid" ] && PGBIN=$(find_pgbin) && [ -n "$PGBIN" ]; then
    PGU=$(pg_user)
    if pg_running; then say "stopping postgres ($DIR/pg)"; as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" -m fast -w stop >&2; fi
  fi
  if pid=$(redis_pid); then
    say "stopping redis (pid $pid)"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && { say "redis $pid did not stop, killing it"; kill -9 "$pid"; }
  fi
  rm -f "$DIR/redis.pid"
  cluster_down
}

pg_stop() {
  [ -f "$DIR/pg/postmaster.pid" ] && PGBIN=$(find_pgbin) && [ -n "$PGBIN" ] || return 0
  PGU=$(pg_user)
  if pg_running; then say "stopping postgres ($DIR/pg, fast)"; as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" -m fast -w stop >&2; fi
}

cluster_down() {
  local f pid
  for f in "$DIR"/cluster/node*.pid; do
    [ -f "$f" ] || continue
    if pid=$(cat "$f" 2>/dev/null) && [[ $pid =~ ^[0-9]+$ ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q redis-server; then
      say "stopping redis cluster node (pid $pid)"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$f"
  done
}

# cluster_up starts three redis-server processes in cluster mode, each owning a third of
# the hash slots (no replicas: enough to prove that every multi-key script stays in one slot).
cluster_up() {
  ensure_installed
  have redis-cli || die "a Redis Cluster needs redis-cli: run \`sudo apt-get install redis-tools\` and try again"
  mkdir -p "$DIR/cluster"
  local ports=() i p pid
  if [ -f "$DIR/cluster/ports" ] && read -r -a ports <"$DIR/cluster/ports" && [ ${#ports[@]} -eq 3 ] &&
     redis_ping "${ports[0]}" && redis_ping "${ports[1]}" && redis_ping "${ports[2]}" &&
     [ "$(redis-cli -p "${ports[0]}" cluster info 2>/dev/null | tr -d '\r' | sed -n 's/^cluster_state://p')" = ok ]; then
    say "redis cluster already running on ${ports[*]}"
  else
    cluster_down
    rm -rf "$DIR/cluster"; mkdir -p "$DIR/cluster"
    ports=()
    for i in 1 2 3; do
      p=$(pick_port "" "")
      while [[ " ${ports[*]} " == *" $p "* ]]; do p=$(pick_port "" ""); done
      mkdir -p "$DIR/cluster/$i"
      say "starting redis cluster node $i on 127.0.0.1:$p"
      redis-server --port "$p" --bind 127.0.0.1 --dir "$DIR/cluster/$i" --daemonize yes --cluster-enabled yes \
        --cluster-config-file nodes.conf --cluster-node-timeout 2000 --pidfile "$DIR/cluster/node$i.pid" \
        --logfile "$DIR/cluster/node$i.log" --save "" --appendonly no >&2 9>&-
      for _ in $(seq 100); do redis_ping "$p" && break; sleep 0.1; done
      redis_ping "$p" || die "redis cluster node $i did not start (log: $DIR/cluster/node$i.log)"
      ports+=("$p")
    done
    redis-cli --cluster create "127.0.0.1:${ports[0]}" "127.0.0.1:${ports[1]}" "127.0.0.1:${ports[2]}" \
      --cluster-replicas 0 --cluster-yes >"$DIR/cluster/create.log" 2>&1 ||
      { cat "$DIR/cluster/create.log" >&2; die "redis-cli --cluster create failed"; }
    for _ in $(seq 100); do
      [ "$(redis-cli -p "${ports[0]}" cluster info | tr -d '\r' | sed -n 's/^cluster_state://p')" = ok ] && break
      sleep 0.1
    done
    echo "${ports[*]}" >"$DIR/cluster/ports"
  fi
  printf 'REDIS_CLUSTER_URL=redis://127.0.0.1:%s?addr=127.0.0.1:%s&addr=127.0.0.1:%s\n' "${ports[0]}" "${ports[1]}" "${ports[2]}" |
    tee "$DIR/cluster/env"
}

"$cmd"
