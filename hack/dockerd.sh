#!/usr/bin/env bash
# Make sure a Docker engine answers. PID 1 is not systemd on these machines, so
# dockerd is started by hand when it is not running (see ../shared/ENVIRONMENT.md).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if docker info >/dev/null 2>&1; then exit 0; fi
if ! command -v dockerd >/dev/null; then
  echo "dockerd not installed: run hack/bootstrap.sh host" >&2; exit 1
fi
log "dockerd: starting (log /var/log/kubedebug-dockerd.log)"
nohup dockerd >/var/log/kubedebug-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  sleep 1
done
echo "dockerd did not come up in 60 s; see /var/log/kubedebug-dockerd.log" >&2
tail -20 /var/log/kubedebug-dockerd.log >&2
exit 1
