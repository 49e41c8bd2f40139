#!/usr/bin/env bash
# Start (or stop) nori-agent on this host for `make run`: under systemd when
# systemd runs the machine, otherwise as a background process with a pid
# file. Either way the agent uses its embedded store in /var/lib/nori.
set -euo pipefail
RUN_DIR=${RUN_DIR:-/run/nori}
PIDFILE=$RUN_DIR/nori-agent.pid
LOG=${NORI_LOG:-/var/log/nori-agent.log}
AGENT=${AGENT:-/usr/local/bin/nori-agent}

have_systemd() { [ "$(ps -p 1 -o comm= 2>/dev/null)" = systemd ]; }

if [ "${1:-start}" = stop ]; then
  if have_systemd; then systemctl stop nori-agent; exit 0; fi
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill "$(cat "$PIDFILE")"; rm -f "$PIDFILE"; echo "nori-agent stopped (containers stay connected)"
  else
    echo "nori-agent is not running"
  fi
  exit 0
fi

# The agent pins its programs on a bpffs; systemd mounts one, a bare
# container or VM may not have.
if ! mountpoint -q /sys/fs/bpf; then mount -t bpf bpf /sys/fs/bpf; fi
command -v nft >/dev/null || { echo "nori-agent needs nftables: apt-get install -y nftables" >&2; exit 1; }
mkdir -p "$RUN_DIR"

if have_systemd; then
  systemctl daemon-reload
  systemctl enable --now nori-agent
  systemctl restart nori-agent
else
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    echo "restarting nori-agent (pid $(cat "$PIDFILE"))"
    kill "$(cat "$PIDFILE")"
    for _ in $(seq 50); do kill -0 "$(cat "$PIDFILE")" 2>/dev/null || break; sleep 0.1; done
  fi
  nohup "$AGENT" "$@" >>"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
fi

for _ in $(seq 100); do
  if nori status >/dev/null 2>&1; then
    nori status
    echo
    echo "nori-agent is running (log: $(have_systemd && echo 'journalctl -u nori-agent' || echo "$LOG")). Try:"
    echo "  nerdctl run --rm --net nori busybox ip addr"
    echo "  podman run --rm --network nori busybox ip addr"
    exit 0
  fi
  sleep 0.2
done
echo "nori-agent did not become ready; last log lines:" >&2
tail -n 30 "$LOG" >&2 || true
exit 1
