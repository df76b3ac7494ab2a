#!/usr/bin/env bash
# bench/tls.sh: TLS on kelb's network load balancer (a TLS listener of the
# L4 data plane, terminating TLS and forwarding plain TCP) against HAProxy
# terminating TLS in TCP mode with the same certificate, and against a
# direct TLS connection to the origin.
#
# nginx (one worker) serves a static "ok" on 127.0.0.1:18281 (plain, behind
# the proxies) and on 127.0.0.1:18284 (TLS, the direct path). HAProxy
# (nbthread 1) listens on :18282, kelb's data plane (bench/l4proxy -tls-cert,
# GOMAXPROCS=1, ELBSecurityPolicy-TLS13-1-2-2021-06) on :18283. All three
# use one self-signed ECDSA P-256 certificate and TLS 1.3 with session
# tickets. Measured: requests/s over keep-alive TLS connections and with a
# new TLS connection per request (wrk, which resumes its sessions: a resumed
# handshake per request), and full handshakes/s (openssl s_time -new, one
# client process). Proxies on CPU 1, nginx and the clients on CPU 0. The
# table goes to stdout and bench/results/tls.md.
#
# Environment: DURATION (seconds per cell, default 10), CONNECTIONS (wrk,
# default 32).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
ORIGIN_ADDR=127.0.0.1:18281
HAPROXY_ADDR=127.0.0.1:18282
KELB_ADDR=127.0.0.1:18283
DIRECT_ADDR=127.0.0.1:18284
PROXY_CPU=1
LOAD_CPU=0

for bin in nginx haproxy wrk openssl taskset go; do
	command -v "$bin" >/dev/null || { echo "bench: $bin not found (apt-get install nginx haproxy wrk openssl)" >&2; exit 1; }
done

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

wait_port() { # addr
	for _ in $(seq 100); do
		if (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "bench: nothing listening on $1" >&2
	exit 1
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
	-subj /CN=bench.kelb.test -addext subjectAltName=DNS:bench.kelb.test \
	-keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/haproxy.pem"

mkdir -p "$work/nginx/logs" bench/results
cat >"$work/nginx/nginx.conf" <<CONF
daemon off;
worker_processes 1;
user root;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 10000000;
	client_body_temp_path $work/nginx/body;
	proxy_temp_path $work/nginx/proxy;
	fastcgi_temp_path $work/nginx/fastcgi;
	uwsgi_temp_path $work/nginx/uwsgi;
	scgi_temp_path $work/nginx/scgi;
	ssl_certificate $work/cert.pem;
	ssl_certificate_key $work/key.pem;
	ssl_protocols TLSv1.2 TLSv1.3;
	ssl_session_tickets on;
	server {
		listen $ORIGIN_ADDR backlog=4096;
		listen $DIRECT_ADDR ssl backlog=4096;
		location / { default_type text/plain; return 200 'ok'; }
	}
}
CONF
taskset -c "$LOAD_CPU" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)

cat >"$work/haproxy.cfg" <<CONF
global
	nbthread 1
	maxconn 8000
	ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend fe
	bind $HAPROXY_ADDR ssl crt $work/haproxy.pem
	default_backend be
backend be
	server nginx $ORIGIN_ADDR
CONF
taskset -c "$PROXY_CPU" haproxy -f "$work/haproxy.cfg" -db &
pids+=($!)
haproxy_pid=$!

go build -o "$work/l4proxy" ./bench/l4proxy
GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$work/l4proxy" -listen "$KELB_ADDR" -targets "$ORIGIN_ADDR" \
	-tls-cert "$work/cert.pem" -tls-key "$work/key.pem" &
pids+=($!)
kelb_pid=$!
for a in "$ORIGIN_ADDR" "$DIRECT_ADDR" "$HAPROXY_ADDR" "$KELB_ADDR"; do wait_port "$a"; done

# cpu_ticks PID: CPU time (user + system, in clock ticks) of PID.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# measure NAME ADDR MODE PID: prints "per_second p50_ms p99_ms cpu_us_per_unit"
# for MODE keepalive or close (wrk requests), or handshake (openssl s_time
# full handshakes; no latencies).
measure() {
	local before=0 after=0
	[[ -n "$4" ]] && before=$(cpu_ticks "$4")
	if [[ $3 == handshake ]]; then
		taskset -c "$LOAD_CPU" openssl s_time -connect "$2" -new -time "$DURATION" >"$work/stime-$1.txt" 2>&1 || true
		[[ -n "$4" ]] && after=$(cpu_ticks "$4")
		awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v pid="$4" '
			/connections in [0-9]+ real seconds/ { n = $1; secs = $4 }
			END {
				cpu = "-"
				if (pid != "" && n > 0) cpu = sprintf("%.1f", ticks / hz * 1e6 / n)
				printf "%s - - %s\n", (secs > 0 ? n / secs : 0), cpu
			}
		' "$work/stime-$1.txt"
		return
	fi
	local args=(-t1 "-c$CONNECTIONS" "-d${DURATION}s" --latency)
	[[ "$3" == close ]] && args+=(-H 'Connection: close')
	taskset -c "$LOAD_CPU" wrk "${args[@]}" "https://$2/" >"$work/wrk-$1-$3.txt"
	[[ -n "$4" ]] && after=$(cpu_ticks "$4")
	awk -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v pid="$4" '
		function ms(v) {
			if (v ~ /us$/) return v / 1000
			if (v ~ /ms$/) return v + 0
			if (v ~ /s$/) return v * 1000
			return v
		}
		/Requests\/sec:/ { rps = $2 }
		$1 == "50%" { p50 = ms($2) }
		$1 == "99%" { p99 = ms($2) }
		/Non-2xx|Socket errors/ { errors = errors " " $0 }
		/requests in/ { n = $1 }
		END {
			cpu = "-"
			if (pid != "" && n > 0) cpu = sprintf("%.1f", ticks / hz * 1e6 / n)
			printf "%s %s %s %s\n", rps, p50, p99, cpu
			if (errors != "") print errors > "/dev/stderr"
		}
	' "$work/wrk-$1-$3.txt"
}

targets=(direct haproxy kelb)
declare -A rate p50 p99 cpu
for mode in keepalive close handshake; do
	for target in "${targets[@]}"; do
		case $target in
		direct) addr=$DIRECT_ADDR pid="" ;;
		haproxy) addr=$HAPROXY_ADDR pid=$haproxy_pid ;;
		kelb) addr=$KELB_ADDR pid=$kelb_pid ;;
		esac
		echo "bench: TLS $target, $mode, ${DURATION}s..." >&2
		read -r r a b c < <(measure "$target" "$addr" "$mode" "$pid")
		rate[$target-$mode]=$r p50[$target-$mode]=$a p99[$target-$mode]=$b cpu[$target-$mode]=$c
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
num() { awk -v v="$1" 'BEGIN { if (v == "-" || v == "") print "-"; else printf "%.3f", v }'; }
{
	echo "| path | mode | per second | p50 ms | p99 ms | proxy CPU µs each | vs direct | vs HAProxy |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for mode in keepalive close handshake; do
		case $mode in
		keepalive) label="requests, keep-alive" ;;
		close) label="requests, new connection (resumed)" ;;
		handshake) label="full handshakes" ;;
		esac
		for target in "${targets[@]}"; do
			k=$target-$mode
			printf "| %s | %s | %.0f | %s | %s | %s | %s | %s |\n" "$target" "$label" \
				"${rate[$k]}" "$(num "${p50[$k]}")" "$(num "${p99[$k]}")" "${cpu[$k]}" \
				"$(ratio "${rate[$k]}" "${rate[direct-$mode]}")" "$(ratio "${rate[$k]}" "${rate[haproxy-$mode]}")"
		done
	done
	echo
	echo "direct is nginx's own TLS; haproxy terminates TLS (mode tcp) and kelb is bench/l4proxy with a TLS listener (the userspace data plane package), both forwarding plain TCP to nginx. One ECDSA P-256 certificate, TLS 1.3, session tickets on."
	echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s (resumes sessions on reconnect); openssl s_time -new -time $DURATION (one process, full handshakes); proxies on CPU $PROXY_CPU (HAProxy nbthread 1, kelb GOMAXPROCS=1), nginx and the clients on CPU $LOAD_CPU; $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)."
} | tee bench/results/tls.md
