#!/usr/bin/env bash
# Build, locally, the control-plane images `kubeadm init` runs as static pods,
# and save them as one tarball for `ctr -n k8s.io images import` on a node.
# Nothing is pulled (no registry is reachable): every image is made here.
#
#   hack/kubeadm-node-images.sh SRC_TREE BIN_DIR ETCD KUBEADM_CONFIG OUT_DIR
#
# SRC_TREE        the Kubernetes tree (build/pause/linux/pause.c is compiled)
# BIN_DIR         debug-built kube-apiserver, kube-controller-manager,
#                 kube-scheduler and kubeadm (kubedebug.lab.k8s_build's output)
# ETCD            a statically linked etcd binary
# KUBEADM_CONFIG  the kubeadm config the node is initialised with: the image
#                 names come from `BIN_DIR/kubeadm config images list --config`
# OUT_DIR         receives images-<key>.tar and images-<key>.list
#
# The key is a hash of every input (binaries, etcd, pause.c,
# the image list, this script): a rerun with the same inputs builds nothing.
# Prints the tarball's path on stdout; "built" or "reused" on stderr.
#
# The images:
#   kube-apiserver, kube-controller-manager, kube-scheduler  FROM scratch with
#       the static (CGO_ENABLED=0) debug binary in /usr/local/bin: like the
#       distroless upstream images, no shell, no libc.
#   pause   the tree's pause.c compiled with gcc -static (as its Makefile does),
#           FROM scratch.
#   etcd    the static etcd given (CGO_ENABLED=0), FROM scratch, tagged as the
#           kubeadm config names it.
# coredns and kube-proxy are not built: the node's kubeadm config disables
# those addons (kubeadm does not list their images then).
set -euo pipefail

if (($# != 5)); then
  echo "usage: $0 SRC_TREE BIN_DIR ETCD KUBEADM_CONFIG OUT_DIR" >&2
  exit 2
fi
src=$1 bin=$2 etcd_bin=$3 config=$4 out=$5
pause_c=$src/build/pause/linux/pause.c

for f in "$pause_c" "$bin/kubeadm" "$bin/kube-apiserver" "$bin/kube-controller-manager" "$bin/kube-scheduler" "$etcd_bin" "$config"; do
  [[ -f $f ]] || { echo "$0: $f is missing (build it with kubedebug.lab.k8s_build, etcd with CGO_ENABLED=0)" >&2; exit 1; }
done
for b in "$bin/kube-apiserver" "$bin/kube-controller-manager" "$bin/kube-scheduler" "$etcd_bin"; do
  if ! file -b "$b" | grep -q 'statically linked'; then
    echo "$0: $b is not statically linked: it cannot run in a FROM scratch image (build it with CGO_ENABLED=0)" >&2
    exit 1
  fi
done

mkdir -p "$out"
exec 9>"$out/.lock"
flock 9

images=$("$bin/kubeadm" config images list --config "$config")
key=$(
  {
    echo "$images"
    sha256sum "$pause_c" "$bin"/kube-apiserver "$bin"/kube-controller-manager "$bin"/kube-scheduler "$etcd_bin" | cut -d' ' -f1
    gcc --version | head -1
    sha256sum "$0" | cut -d' ' -f1
  } | sha256sum | cut -c1-16
)
tarball=$out/images-$key.tar
if [[ -f $tarball && -f $out/images-$key.list ]]; then
  echo "reused $tarball" >&2
  echo "$tarball"
  exit 0
fi

work=$(mktemp -d /tmp/kubeadm-node-images.XXXXXX)
built=()
cleanup() {
  rm -rf "$work"
  if ((${#built[@]})); then docker rmi "${built[@]}" >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

build() {  # build REF CONTEXT: docker build of CONTEXT/Dockerfile tagged REF
  local log
  # (the legacy builder's deprecation notice is noise here; real errors are shown)
  if ! log=$(docker build -q -t "$1" "$2" 2>&1); then
    echo "$log" >&2
    return 1
  fi
  built+=("$1")
}

static_image() {  # static_image REF BINARY [PATH]: FROM scratch, BINARY (default BIN_DIR/BINARY) in /usr/local/bin
  local ctx=$work/$2
  mkdir -p "$ctx"
  ln "${3:-$bin/$2}" "$ctx/$2" 2>/dev/null || cp "${3:-$bin/$2}" "$ctx/$2"
  printf 'FROM scratch\nENV PATH=/usr/local/bin:/usr/bin:/bin\nCOPY %s /usr/local/bin/%s\nENTRYPOINT ["/usr/local/bin/%s"]\n' "$2" "$2" "$2" >"$ctx/Dockerfile"
  build "$1" "$ctx"
}

wanted=()
for ref in $images; do
  name=${ref##*/}
  name=${name%%:*}
  case $name in
    kube-apiserver|kube-controller-manager|kube-scheduler)
      static_image "$ref" "$name" ;;
    pause)
      mkdir -p "$work/pause"
      pause_version=$(awk '$1 == "TAG" && ($2 == "=" || $2 == "?=") {print $3; exit}' "$src/build/pause/Makefile")
      gcc -Os -Wall -Werror -static -DVERSION="v${pause_version:-unknown}-kubedebug" -o "$work/pause/pause" "$pause_c"
      printf 'FROM scratch\nCOPY pause /pause\nENTRYPOINT ["/pause"]\n' >"$work/pause/Dockerfile"
      build "$ref" "$work/pause" ;;
    etcd)
      static_image "$ref" etcd "$etcd_bin" ;;
    *)
      echo "$0: kubeadm lists $ref, which this script does not know how to build" >&2
      exit 1 ;;
  esac
  wanted+=("$ref")
done

docker save -o "$work/images.tar" "${wanted[@]}"
printf '%s\n' "${wanted[@]}" >"$work/images.list"
# Older tarballs are superseded: keep the cache to one set.
rm -f "$out"/images-*.tar "$out"/images-*.list
mv "$work/images.list" "$out/images-$key.list"
mv "$work/images.tar" "$tarball"
echo "built $tarball" >&2
echo "$tarball"
