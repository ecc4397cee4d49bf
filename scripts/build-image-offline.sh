#!/usr/bin/env bash
# Build the unmodified Dockerfile with buildah where the base images' registries (Docker Hub,
# gcr.io) cannot be reached but Debian's packages and crates.io can: local stand-ins take the
# base images' names, then `buildah bud` runs every step of the Dockerfile, and the image is
# started to print its version and check its user.
#   builder stand-in for rust:<v>-slim-bookworm: Debian bookworm (debootstrap) with gcc and
#     this machine's Rust toolchain under /usr/local/{rustup,cargo}, as the official image has;
#   runtime stand-in for gcr.io/distroless/cc-debian12:nonroot: bookworm minbase (glibc,
#     libgcc) with the nonroot user 65532.
# Where the registries are reachable, `buildah bud -t tidecast .` (or docker/podman build)
# needs none of this.
# Needs: buildah, debootstrap (Debian packages), root. Storage: vfs, isolation: chroot (no
# overlay or user namespaces needed). Usage: scripts/build-image-offline.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${1:-localhost/tidecast:dev}
work=${WORK:-/var/tmp/tidecast-image}
export STORAGE_DRIVER=vfs BUILDAH_ISOLATION=chroot
rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
mkdir -p "$work"

stand_in() { # NAME ROOTFS [buildah config options]: commit a directory as an image called NAME
  local name=$1 rootfs=$2 c
  shift 2
  c=$(buildah from scratch)
  tar -C "$rootfs" -cf "$work/rootfs.tar" .
  buildah add "$c" "$work/rootfs.tar" / >/dev/null
  if [[ $# -gt 0 ]]; then buildah config "$@" "$c"; fi
  buildah commit -q "$c" "$name" >/dev/null
  buildah rm "$c" >/dev/null
  rm -f "$work/rootfs.tar"
}

if [[ ! -d $work/runtime ]]; then
  debootstrap --variant=minbase bookworm "$work/runtime.tmp" http://deb.debian.org/debian
  echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >> "$work/runtime.tmp/etc/passwd"
  echo 'nonroot:x:65532:' >> "$work/runtime.tmp/etc/group"
  mkdir -p "$work/runtime.tmp/home/nonroot"
  mv "$work/runtime.tmp" "$work/runtime"
fi
if [[ ! -d $work/builder ]]; then
  debootstrap --variant=minbase --include=gcc,libc6-dev,ca-certificates bookworm \
    "$work/builder.tmp" http://deb.debian.org/debian
  toolchain=$(rustc --print sysroot)
  mkdir -p "$work/builder.tmp/usr/local/rustup/toolchains" "$work/builder.tmp/usr/local/cargo/bin"
  cp -a "$toolchain" "$work/builder.tmp/usr/local/rustup/toolchains/$rust_version"
  for b in cargo rustc rustdoc; do
    ln -s "/usr/local/rustup/toolchains/$rust_version/bin/$b" "$work/builder.tmp/usr/local/cargo/bin/$b"
  done
  mv "$work/builder.tmp" "$work/builder"
fi
# The builder trusts what this machine trusts (HOST_CA; a proxy in front of crates.io may
# present its own CA), as a build behind such a proxy must.
cp "${HOST_CA:-/etc/ssl/certs/ca-certificates.crt}" "$work/builder/etc/ssl/certs/ca-certificates.crt"
stand_in "docker.io/library/rust:${rust_version}-slim-bookworm" "$work/builder" \
  --env CARGO_HOME=/usr/local/cargo --env RUSTUP_HOME=/usr/local/rustup \
  --env PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
stand_in gcr.io/distroless/cc-debian12:nonroot "$work/runtime" --user 65532:65532

buildah bud --pull=never --network host --layers -t "$tag" .
buildah images "$tag"
c=$(buildah from --pull=never "$tag")
trap 'buildah rm "$c" >/dev/null' EXIT
echo "user: $(buildah inspect --format '{{.OCIv1.Config.User}}' "$c")"
echo "entrypoint: $(buildah inspect --format '{{.OCIv1.Config.Entrypoint}}' "$c")"
buildah run --user 65532:65532 "$c" -- /usr/local/bin/tidecast --version
