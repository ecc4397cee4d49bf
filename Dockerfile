# syntax=docker/dockerfile:1
# The tidecast image: `docker build -t tidecast .` (or `podman build`, `buildah bud`).
# A distroless runtime (glibc, libgcc, CA certificates; no shell) holding only the binary,
# run as the nonroot user 65532 that deploy/base/deployment.yaml names.

# The builder's Debian release must match the runtime's (debian12 = bookworm): the binary
# links the builder's glibc.
ARG RUST_VERSION=1.95
FROM docker.io/library/rust:${RUST_VERSION}-slim-bookworm AS builder
WORKDIR /src
# Only what the build reads (.dockerignore keeps the rest out of the context).
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
# The registry and target caches make rebuilds incremental; the binary is copied out of
# the cached target directory because cache mounts are not part of the image. Its line
# tables (for the profilers of a development build) are stripped: 649 MB -> 67 MB;
# the symbols stay, so a panic's backtrace still names its functions.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p tidecast \
    && install -D -m 0755 target/release/tidecast /out/tidecast \
    && strip --strip-debug /out/tidecast

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="tidecast" \
      org.opencontainers.image.description="Predictive autoscaling for Kubernetes: predicted load through external.metrics.k8s.io" \
      org.opencontainers.image.source="https://github.com/tidecast/tidecast" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=builder /out/tidecast /usr/local/bin/tidecast
USER 65532:65532
EXPOSE 6443
ENTRYPOINT ["/usr/local/bin/tidecast"]
CMD ["serve", "--config", "/etc/tidecast/config/tidecast.yaml", "--log-format", "json"]
