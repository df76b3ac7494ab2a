#!/usr/bin/env bash
# bench/run.sh: kelb's L4 data plane against a direct connection and HAProxy.
#
# nginx (one worker) serves a static "ok" on 127.0.0.1:18081. wrk measures it
# (a) directly, (b) through HAProxy in TCP mode (nbthread 1) on :18082 and
# (c) through kelb's data plane (bench/l4proxy, GOMAXPROCS=1) on :18083, each
# with keep-alive and with a new connection per request. The proxies are
# pinned to CPU 1, nginx and wrk to CPU 0, so each proxy gets one core.
# The table goes to stdout and bench/results/l4.md.
#
# Environment: DURATION (wrk seconds per cell, default 10), CONNECTIONS
# (default 32), KELB_ADDR (measure an already running kelb listener instead
# of bench/l4proxy, e.g. a `kelb server` NLB forwarding to 127.0.0.1:18081),
# PROFILE=1 (write a CPU profile of l4proxy to bench/results/l4proxy.pprof),
# SERVER_PLANES (default "userspace kernel"; empty skips them): for each, a
# real `kelb server --dataplane PLANE` pinned to the proxies' CPU, with an NLB
# created through its API (aws CLI) forwarding to nginx. The kernel plane
# needs root; its CPU is the softirq and system time of the proxies' CPU
# (/proc/stat), since it forwards in the kernel, not in kelb's process.
set -euo pipefail

cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
NGINX_ADDR=127.0.0.1:18081
HAPROXY_ADDR=127.0.0.1:18082
KELB_ADDR=${KELB_ADDR:-}
kelb_pid="" # CPU is measured only for the kelb this script starts
L4PROXY_ADDR=127.0.0.1:18083
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
	# A stopped kernel plane leaves its table without listeners (so that
	# established flows finish); the bench's table goes with the bench.
	if [[ -d "$work/kelb-kernel" ]] && command -v nft >/dev/null; then
		nft delete table ip "kelb_$(printf %s "$work/kelb-kernel" | sha256sum | cut -c1-8)" 2>/dev/null || true
	fi
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
taskset -c "$LOAD_CPU" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=($!)

cat >"$work/haproxy.cfg" <<CONF
global
	nbthread 1
	maxconn 8000
defaults
	mode tcp
	timeout connect 5s
	timeout client 60s
	timeout server 60s
frontend fe
	bind $HAPROXY_ADDR
	default_backend be
backend be
	server nginx $NGINX_ADDR
CONF
taskset -c "$PROXY_CPU" haproxy -f "$work/haproxy.cfg" -db &
pids+=($!)
haproxy_pid=$!

if [[ -z "$KELB_ADDR" ]]; then
	go build -o "$work/l4proxy" ./bench/l4proxy
	profile=()
	[[ "${PROFILE:-}" == 1 ]] && profile=(-cpuprofile bench/results/l4proxy.pprof)
	GOMAXPROCS=1 taskset -c "$PROXY_CPU" "$work/l4proxy" -listen "$L4PROXY_ADDR" -targets "$NGINX_ADDR" "${profile[@]}" &
	pids+=($!)
	kelb_pid=$!
	KELB_ADDR=$L4PROXY_ADDR
fi
wait_port "$NGINX_ADDR"
wait_port "$HAPROXY_ADDR"
wait_port "$KELB_ADDR"

# A real kelb server per plane, each with an NLB forwarding to nginx.
SERVER_PLANES=${SERVER_PLANES-userspace kernel}
[[ $(id -u) == 0 ]] || SERVER_PLANES=${SERVER_PLANES/kernel/}
targets=(direct haproxy kelb)
declare -A server_addr server_pid
if [[ -n "${SERVER_PLANES// /}" ]]; then
	command -v aws >/dev/null || { echo "bench: aws CLI not found (SERVER_PLANES= skips the kelb servers)" >&2; exit 1; }
	go build -o "$work/kelb" ./cmd/kelb
	export AWS_ACCESS_KEY_ID=AKIAKELBBENCH0000001 AWS_SECRET_ACCESS_KEY=kelb-bench-secret AWS_DEFAULT_REGION=us-west-2
	n=0
	for plane in $SERVER_PLANES; do
		n=$((n + 1))
		api=127.0.0.1:$((18190 + n))
		taskset -c "$PROXY_CPU" "$work/kelb" server --dataplane "$plane" --data-dir "$work/kelb-$plane" \
			--api-addr "$api" --dns-addr "" --metrics-addr "" --access-key-id "$AWS_ACCESS_KEY_ID" \
			--secret-access-key "$AWS_SECRET_ACCESS_KEY" --zone "us-west-2a=127.0.$((180 + n)).0/24" \
			--log-level warn 2>"$work/kelb-$plane.log" &
		pids+=($!)
		server_pid[$plane]=$!
		wait_port "$api"
		elb=(aws --endpoint-url "http://$api" elbv2 --output text)
		lb=$("${elb[@]}" create-load-balancer --name "bench-$plane" --type network --query 'LoadBalancers[0].LoadBalancerArn')
		tg=$("${elb[@]}" create-target-group --name "bench-$plane" --protocol TCP --port "${NGINX_ADDR##*:}" \
			--target-type ip --vpc-id vpc-bench --query 'TargetGroups[0].TargetGroupArn')
		"${elb[@]}" register-targets --target-group-arn "$tg" --targets "Id=${NGINX_ADDR%:*},Port=${NGINX_ADDR##*:},AvailabilityZone=all" >/dev/null
		"${elb[@]}" create-listener --load-balancer-arn "$lb" --protocol TCP --port 80 \
			--default-actions "Type=forward,TargetGroupArn=$tg" >/dev/null
		for _ in $(seq 300); do
			[[ $("${elb[@]}" describe-target-health --target-group-arn "$tg" --query 'TargetHealthDescriptions[0].TargetHealth.State') == healthy ]] && break
			sleep 0.1
		done
		ip=$("${elb[@]}" describe-load-balancers --load-balancer-arns "$lb" \
			--query 'LoadBalancers[0].AvailabilityZones[0].LoadBalancerAddresses[0].IpAddress')
		server_addr[$plane]=$ip:80
		wait_port "${server_addr[$plane]}"
		targets+=("server-$plane")
	done
fi

# cpu_ticks PID: CPU time (user + system, in clock ticks) of PID; with
# PID "cpu", the system, irq and softirq time of the proxies' CPU.
cpu_ticks() {
	if [[ $1 == cpu ]]; then
		awk -v c="cpu$PROXY_CPU" '$1 == c { print $4 + $7 + $8 }' /proc/stat
		return
	fi
	awk '{ print $14 + $15 }' "/proc/$1/stat"
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

declare -A rps p50 p99 cpu
for mode in keepalive close; do
	for target in "${targets[@]}"; do
		case $target in
		direct) addr=$NGINX_ADDR pid="" ;;
		haproxy) addr=$HAPROXY_ADDR pid=$haproxy_pid ;;
		kelb) addr=$KELB_ADDR pid=$kelb_pid ;;
		server-kernel) addr=${server_addr[kernel]} pid=cpu ;;
		server-*) addr=${server_addr[${target#server-}]} pid=${server_pid[${target#server-}]} ;;
		esac
		echo "bench: $target, $mode, ${DURATION}s..." >&2
		read -r r a b c < <(measure "$target" "$addr" "$mode" "$pid")
		rps[$target-$mode]=$r p50[$target-$mode]=$a p99[$target-$mode]=$b cpu[$target-$mode]=$c
	done
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
{
	echo "| path | mode | requests/s | p50 ms | p99 ms | proxy CPU µs/request | vs direct | vs HAProxy |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|"
	for mode in keepalive close; do
		for target in "${targets[@]}"; do
			k=$target-$mode
			printf "| %s | %s | %.0f | %.3f | %.3f | %s | %s | %s |\n" "$target" \
				"$([[ $mode == close ]] && echo 'new connection' || echo 'keep-alive')" \
				"${rps[$k]}" "${p50[$k]}" "${p99[$k]}" "${cpu[$k]}" \
				"$(ratio "${rps[$k]}" "${rps[direct-$mode]}")" "$(ratio "${rps[$k]}" "${rps[haproxy-$mode]}")"
		done
	done
	echo
	echo "kelb is bench/l4proxy (the userspace data plane package); server-PLANE is a real kelb server --dataplane PLANE with an NLB made through its API (server-kernel's CPU: system, irq and softirq time of CPU $PROXY_CPU)."
	echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s; proxies on CPU $PROXY_CPU (HAProxy nbthread 1, kelb GOMAXPROCS=1, kelb servers unlimited), nginx and wrk on CPU $LOAD_CPU; $(nproc) CPUs, $(uname -r), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)."
} | tee bench/results/l4.md
