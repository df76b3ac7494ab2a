#!/usr/bin/env bash
# bench/l7.sh: kelb's L7 (ALB) data plane against a direct connection,
# HAProxy in HTTP mode and nginx proxy_pass.
#
# nginx (one worker) serves a static "ok" on 127.0.0.1:18091. wrk measures it
# (a) directly, (b) through HAProxy in HTTP mode (nbthread 1, keep-alive to
# the server) on :18092, (c) through nginx proxy_pass (one worker, upstream
# keepalive) on :18094 and (d) through kelb's L7 plane (bench/l7proxy,
# GOMAXPROCS=1) on :18093, each with keep-alive and with a new connection
# per request. The proxies are pinned to CPU 1, the origin nginx and wrk to
# CPU 0, so each proxy gets one core. The table goes to stdout and
# bench/results/l7.md.
#
# Environment: DURATION (wrk seconds per cell and round, default 5), ROUNDS
# (default 3; each cell is the median of its rounds), CONNECTIONS
# (default 32), KELB_ADDR (measure an already running kelb ALB listener
# forwarding to 127.0.0.1:18091 instead of bench/l7proxy), PROFILE=1 (write
# a CPU profile of l7proxy to bench/results/l7proxy.pprof).
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-32}
NGINX_ADDR=127.0.0.1:18091
HAPROXY_ADDR=127.0.0.1:18092
NGINX_PROXY_ADDR=127.0.0.1:18094
KELB_ADDR=${KELB_ADDR:-}
kelb_pid="" # CPU is measured only for the kelb this script starts
L7PROXY_ADDR=127.0.0.1:18093
PROXY_CPU=1
LOAD_CPU=0

for bin in nginx haproxy wrk taskset go; do
	command -v "$bin" >/dev/null || { echo "bench: $bin not found (apt-get install nginx haproxy wrk)" >&2; exit 1; }
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
	server {
		listen $NGINX_ADDR backlog=4096;
		location / { default_type text/plain; return 200 'ok'; }
	}
}
CONF
mkdir -p "$work/nginx-proxy/logs"
cat >"$work/nginx-proxy/nginx.conf" <<CONF
daemon off;
worker_processes 1;
user root;
pid $work/nginx-proxy/nginx.pid;
error_log $work/nginx-proxy/logs/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 10000000;
	client_body_temp_path $work/nginx-proxy/body;
	proxy_temp_path $work/nginx-proxy/proxy;
	fastcgi_temp_path $work/nginx-proxy/fastcgi;
	uwsgi_temp_path $work/nginx-proxy/uwsgi;
	scgi_temp_path $work/nginx-proxy/scgi;
	upstream origin { server $NGINX_ADDR; keepalive 64; }
	server {
		listen $NGINX_PROXY_ADDR backlog=4096;
		location / {
			proxy_pass http://origin;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
		}
	}
}
CONF
taskset -c "$PROXY_CPU" nginx -p "$work/nginx-proxy" -c "$work/nginx-proxy/nginx.conf" &
pids+=($!)
nginx_proxy_pid=$!
taskset -c "$LOAD_CPU" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)

cat >"$work/haproxy.cfg" <<CONF
global
	nbthread 1
	maxconn 8000
defaults
	mode http
	option http-keep-alive
	option forwardfor
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend fe
	bind $HAPROXY_ADDR
	default_backend be
backend be
	http-reuse always
	server nginx $NGINX_ADDR
CONF
taskset -c "$PROXY_CPU" haproxy -f "$work/haproxy.cfg" -db &
pids+=($!)
haproxy_pid=$!

if [[ -z "$KELB_ADDR" ]]; then
	go build -o "$work/l7proxy" ./bench/l7proxy
	profile=()
	[[ "${PROFILE:-}" == 1 ]] && profile=(-cpuprofile bench/results/l7proxy.pprof)
	GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$work/l7proxy" -listen "$L7PROXY_ADDR" -targets "$NGINX_ADDR" "${profile[@]}" &
	pids+=($!)
	kelb_pid=$!
	KELB_ADDR=$L7PROXY_ADDR
fi
wait_port "$NGINX_ADDR"
wait_port "$HAPROXY_ADDR"
wait_port "$NGINX_PROXY_ADDR"
wait_port "$KELB_ADDR"

# cpu_ticks PID: CPU time (user + system, in clock ticks) of PID and its
# child processes (nginx's worker), for the CPU each proxy spends.
cpu_ticks() {
	local total=0 pid
	for pid in "$1" $(pgrep -P "$1" || true); do
		total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
	done
	echo "$total"
}

# measure NAME ADDR MODE PID: prints "rps p50_ms p99_ms cpu_us_per_request"
# (cpu "-" without a PID).
measure() {
	local args=(-t1 "-c$CONNECTIONS" "-d${DURATION}s" --latency) before=0 after=0
	[[ "$3" == close ]] && args+=(-H 'Connection: close')
	[[ -n "$4" ]] && before=$(cpu_ticks "$4")
	taskset -c "$LOAD_CPU" wrk "${args[@]}" "http://$2/" >"$work/wrk-$1-$3.txt"
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

# Rounds interleave the proxies, so that a burst of load on the shared
# machine hits one round of each rather than all of one; each cell is the
# median of its rounds.
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (v[1] == "-") print "-"; else print v[int((NR + 1) / 2)] }'; }
declare -A rps p50 p99 cpu
for round in $(seq "$ROUNDS"); do
	for mode in keepalive close; do
		for target in direct haproxy nginx kelb; do
			case $target in
			direct) addr=$NGINX_ADDR pid="" ;;
			haproxy) addr=$HAPROXY_ADDR pid=$haproxy_pid ;;
			nginx) addr=$NGINX_PROXY_ADDR pid=$nginx_proxy_pid ;;
			kelb) addr=$KELB_ADDR pid=$kelb_pid ;;
			esac
			echo "bench: round $round/$ROUNDS, $target, $mode, ${DURATION}s..." >&2
			read -r r a b c < <(measure "$target" "$addr" "$mode" "$pid")
			k=$target-$mode
			rps[$k]+=" $r" p50[$k]+=" $a" p99[$k]+=" $b" cpu[$k]+=" $c"
		done
	done
done
for k in "${!rps[@]}"; do
	rps[$k]=$(median <<<"${rps[$k]}") p50[$k]=$(median <<<"${p50[$k]}")
	p99[$k]=$(median <<<"${p99[$k]}") cpu[$k]=$(median <<<"${cpu[$k]}")
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
	echo "| path | mode | requests/s | p50 ms | p99 ms | proxy CPU µs/request | vs direct | vs HAProxy | vs nginx |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
	for mode in keepalive close; do
		for target in direct haproxy nginx kelb; do
			k=$target-$mode
			printf "| %s | %s | %.0f | %.3f | %.3f | %s | %s | %s | %s |\n" "$target" \
				"$([[ $mode == close ]] && echo 'new connection' || echo 'keep-alive')" \
				"${rps[$k]}" "${p50[$k]}" "${p99[$k]}" "${cpu[$k]}" \
				"$(ratio "${rps[$k]}" "${rps[direct-$mode]}")" "$(ratio "${rps[$k]}" "${rps[haproxy-$mode]}")" \
				"$(ratio "${rps[$k]}" "${rps[nginx-$mode]}")"
		done
	done
	echo
	echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s, median of $ROUNDS interleaved rounds; proxies on CPU $PROXY_CPU (HAProxy HTTP mode nbthread 1, nginx proxy_pass 1 worker, kelb ALB GOMAXPROCS=1), nginx and wrk on CPU $LOAD_CPU; $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)."
} | tee bench/results/l7.md
