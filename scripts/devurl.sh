# devurl.sh is sourced by the bench scripts. dev_url LOG PID waits until
# the "streamcart dev" of pid PID, logging to LOG, prints its URL, and
# prints it; it fails with the log if dev exits or takes over 2 minutes.
dev_url() {
	local log=$1 pid=$2 url=""
	for _ in $(seq 1 240); do
		url=$(sed -n 's/^Open \(http:[^ ]*\)$/\1/p' "$log")
		[[ -n "$url" ]] && { echo "$url"; return 0; }
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.5
	done
	cat "$log" >&2
	echo "streamcart dev did not start" >&2
	return 1
}
