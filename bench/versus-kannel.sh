#!/usr/bin/env bash
# versus-kannel.sh: the same sendsms load, with a dlr-url per message, into
# Debian's Kannel (bearerbox + smsbox) and into smsgw, each bound to the
# same simulated carrier (smsbench smsc: 2 binds, window 64), in turns.
# Each turn prints smsbench's report: the gateway's CPU a message (Kannel's
# two processes summed, read from /proc; smsgw's from its /metrics), the
# time until every dlr-url call was made, lost and duplicated messages at
# the carrier. Run it with `make bench-kannel`, which builds bin/ and
# installs Kannel first.
#
# Environment: COUNT (messages a turn, 20000), CLIENTS (64), ROUNDS (3),
# MASK (dlr-mask, 3), BASE_PORT (the first of 7 consecutive loopback
# ports, 23700), OUT (where reports and logs go, a temporary directory).
set -euo pipefail

COUNT=${COUNT:-20000}
CLIENTS=${CLIENTS:-64}
ROUNDS=${ROUNDS:-3}
MASK=${MASK:-3}
BASE_PORT=${BASE_PORT:-23700}
OUT=${OUT:-$(mktemp -d)}
mkdir -p "$OUT"
BIN=$(cd "$(dirname "$0")/.." && pwd)/bin

sim=$BASE_PORT farm=$((BASE_PORT + 1)) admin=$((BASE_PORT + 2)) box=$((BASE_PORT + 3))
sendsms=$((BASE_PORT + 4)) grpc=$((BASE_PORT + 5)) http=$((BASE_PORT + 6))

for bin in /usr/sbin/bearerbox /usr/sbin/smsbox "$BIN/smsgw" "$BIN/smsbench"; do
	[ -x "$bin" ] || { echo "versus-kannel: $bin missing (make bench-kannel builds and installs what it needs)" >&2; exit 1; }
done

pids=()
stop_all() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap stop_all EXIT

# wait_for CMD...: retry CMD for up to 20 s.
wait_for() {
	for _ in $(seq 100); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
	echo "versus-kannel: timed out waiting for: $*" >&2
	return 1
}

start_sim() {
	"$BIN/smsbench" smsc --carrier "name=alpha,listen=127.0.0.1:$sim,latency=1ms..3ms,receipt_delay=10ms..50ms" \
		--http "127.0.0.1:$farm" --every 0 >"$OUT/smsc-$1.log" 2>&1 &
	pids+=($!)
	wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$sim"
}

load() { # load NAME MEASURE-FLAG...
	local name=$1
	shift
	"$BIN/smsbench" load --driver kannel --username app --password app-secret --count "$COUNT" \
		--clients "$CLIENTS" --dlr-mask "$MASK" --farm "http://127.0.0.1:$farm" --quiet \
		--json "$OUT/$name.json" "$@" | tee "$OUT/$name.txt"
}

kannel_turn() {
	local dir=$OUT/kannel-$1
	mkdir -p "$dir"
	# Logs at error level only, on the console too (-v 4): Kannel's
	# default console level is debug, lines per message that would cost it
	# more CPU than the messages.
	# Two smsc groups with one smsc-id: two binds, as smsgw's binds: 2.
	local smsc=""
	for _ in 1 2; do
		smsc+="group = smsc
smsc = smpp
smsc-id = alpha
host = 127.0.0.1
port = $sim
transceiver-mode = true
smsc-username = alpha
smsc-password = pw
system-type = ""
max-pending-submits = 64
enquire-link-interval = 30
reconnect-delay = 1

"
	done
	cat >"$dir/kannel.conf" <<EOF
group = core
admin-port = $admin
admin-password = adminpw
admin-interface = 127.0.0.1
smsbox-port = $box
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "$dir/bearerbox.log"
log-level = 3
dlr-storage = internal

${smsc}group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $box
sendsms-port = $sendsms
sendsms-interface = 127.0.0.1
log-file = "$dir/smsbox.log"
log-level = 3

group = sendsms-user
username = app
default-sender = MFI
password = app-secret

group = sms-service
keyword = default
text = "ok"
EOF
	/usr/sbin/bearerbox -v 4 "$dir/kannel.conf" >"$dir/bearerbox.out" 2>&1 &
	local bb=$!
	pids+=($bb)
	wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$box"
	/usr/sbin/smsbox -v 4 "$dir/kannel.conf" >"$dir/smsbox.out" 2>&1 &
	local sb=$!
	pids+=($sb)
	# Ready when smsbox reached bearerbox and both binds are online.
	wait_for bash -c "s=\$(curl -sf 'http://127.0.0.1:$admin/status.txt?password=adminpw') && grep -q 'smsbox:' <<<\"\$s\" && [ \$(grep -c 'online' <<<\"\$s\") -ge 2 ]"
	load "kannel-$1" --target "http://127.0.0.1:$sendsms" --gateway-pid "$bb,$sb"
}

smsgw_turn() {
	local dir=$OUT/smsgw-$1
	mkdir -p "$dir"
	cat >"$dir/smsgw.yaml" <<EOF
listen:
  grpc: 127.0.0.1:$grpc
  http: 127.0.0.1:$http
store:
  path: $dir/data/smsgw.db
tenants:
  - id: mfi
    api_keys: ["bench-key-0123456789"]
    default_region: KE
    sender: MFI
carriers:
  - name: alpha
    smpp: {host: 127.0.0.1, port: $sim, system_id: alpha, password: pw, bind: transceiver, binds: 2, window: 64}
routes:
  - {prefix: "+", carrier: alpha, cost: 1.0, currency: KES}
kannel:
  listen: 127.0.0.1:$sendsms
  users:
    - {username: app, password: app-secret, tenant: mfi}
webhooks:
  allow_hosts: [127.0.0.1]
EOF
	"$BIN/smsgw" serve --config "$dir/smsgw.yaml" >"$dir/smsgw.log" 2>&1 &
	pids+=($!)
	wait_for curl -sf "http://127.0.0.1:$http/readyz"
	load "smsgw-$1" --target "http://127.0.0.1:$sendsms" --metrics "http://127.0.0.1:$http/metrics"
}

echo "versus-kannel: $ROUNDS rounds of $COUNT messages, $CLIENTS clients, dlr-mask $MASK; reports in $OUT"
for round in $(seq "$ROUNDS"); do
	for gw in kannel smsgw; do
		echo "== round $round: $gw"
		start_sim "$gw-$round"
		"${gw}_turn" "$round"
		stop_all
	done
done
