#!/usr/bin/env bash
# make run: tinbao on this machine with persistent dev services in .dev/.
#
# Starts Postgres + Redis for .dev (data survives between runs), builds bin/tinbao,
# makes a dev TINBAO_SECRET once (.dev/secret), migrates, creates the demo officer once
# (.dev/officer), then serves in the foreground. Ctrl-C or SIGTERM stops tinbao and
# then the .dev services. TELEGRAM_*, TWILIO_*, SMSGATE_* (SMS is on with SMSGATE_URL and
# SMSGATE_SIGNING_KEY, or TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM; see the
# README's "SMS without a SIM"), HTTP_ADDR, CONSOLE_ADDR and PUBLIC_URL are taken from
# your environment as they are; PUBLIC_URL, when unset, follows HTTP_ADDR (the web chat
# links the privacy notice with it). To use another secret, edit .dev/secret.
set -euo pipefail
cd "$(dirname "$0")/.."

trap 'bash scripts/services.sh down .dev' EXIT
bash scripts/services.sh up .dev >/dev/null

echo "+ go build -o bin/tinbao ./cmd/tinbao" >&2
go build -o bin/tinbao ./cmd/tinbao

if [ ! -s .dev/secret ]; then
  (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >.dev/secret)
  echo "generated a dev TINBAO_SECRET in .dev/secret" >&2
fi
DATABASE_URL=$(sed -n 's/^DATABASE_URL=//p' .dev/env)
REDIS_URL=$(sed -n 's/^REDIS_URL=//p' .dev/env)
TINBAO_SECRET=$(cat .dev/secret)
export DATABASE_URL REDIS_URL TINBAO_SECRET

bin/tinbao migrate

if [ ! -e .dev/officer ]; then
  # With no stdin, `officer add` generates a password and prints "password: <value>".
  if out=$(bin/tinbao officer add demo --role supervisor </dev/null); then
    (umask 077 && printf '%s\n' "$out" >.dev/officer)
    echo "demo officer: demo"
    echo "$out"
  else
    echo "could not create the demo officer (does it exist already?); add one with: bin/tinbao officer add NAME --role supervisor" >&2
  fi
else
  echo "demo officer: demo (password in .dev/officer)"
fi

# The address a browser on this machine reaches a listener at: ":8090", "0.0.0.0:8090"
# and "[::]:8090" listen everywhere, loopback included.
url() {
  local a=$1
  case $a in :*) a=127.0.0.1$a ;; 0.0.0.0:*) a=127.0.0.1:${a#0.0.0.0:} ;; \[::\]:*) a=127.0.0.1:${a#\[::\]:} ;; esac
  echo "http://$a"
}
http=$(url "${HTTP_ADDR:-127.0.0.1:8080}")
# Links tinbao writes (the privacy notice in the web chat) and Twilio's signatures use
# PUBLIC_URL: unset, it follows HTTP_ADDR, so a chat on another port links to itself.
export PUBLIC_URL="${PUBLIC_URL:-$http}"
telegram="off (set TELEGRAM_BOT_TOKEN; see README: try it with the fake Bot API)"
[ -n "${TELEGRAM_BOT_TOKEN:-}" ] && telegram="on, $([ -n "${TELEGRAM_WEBHOOK_SECRET:-}" ] && echo "webhook $http/webhooks/telegram" || echo "long polling")"
providers=()
[ -n "${SMSGATE_URL:-}" ] && providers+=("gateway (SMSGATE_*), events to $PUBLIC_URL/webhooks/smsgate")
[ -n "${TWILIO_ACCOUNT_SID:-}" ] && [ -n "${TWILIO_AUTH_TOKEN:-}" ] && [ -n "${TWILIO_FROM:-}" ] &&
  providers+=("Twilio (TWILIO_*), webhook $PUBLIC_URL/webhooks/twilio/sms")
sms="off (set SMSGATE_URL and SMSGATE_SIGNING_KEY, or TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM; see README: SMS without a SIM)"
for p in "${providers[@]}"; do
  if [[ $sms == off* ]]; then sms="on: $p"; else sms+="; $p"; fi
done
cat <<INFO

  web chat  $http/chat        <- try tinbao here
  console   $(url "${CONSOLE_ADDR:-127.0.0.1:8081}")/login  (officer: demo, password in .dev/officer)
  health    $http/healthz  and  $http/readyz
  public    $PUBLIC_URL  (PUBLIC_URL: the address links and webhooks use)
  telegram  $telegram
  sms       $sms
  data      .dev/ (kept between runs; remove it for a fresh start)

INFO

# Serve in its own session so a Ctrl-C reaches it once, as the SIGTERM we forward;
# the EXIT trap then stops the .dev services.
if command -v setsid >/dev/null 2>&1; then setsid bin/tinbao serve & else bin/tinbao serve & fi
pid=$!
trap 'kill -TERM "$pid" 2>/dev/null || true' INT TERM HUP
status=0
while :; do
  wait "$pid" && status=0 || status=$?
  kill -0 "$pid" 2>/dev/null || break
done
exit "$status"
