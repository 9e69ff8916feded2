# syntax=docker/dockerfile:1
# tfpilot container image.
#   docker build -t tfpilot .
#   docker run -p 8080:8080 -e TFPILOT_APP_ID=... -e TFPILOT_WEBHOOK_SECRET=... \
#     -e TFPILOT_PRIVATE_KEY_PATH=/run/secrets/tfpilot.pem tfpilot
# The embedded folder store lives in /var/lib/tfpilot (mount a volume there), or point
# TFPILOT_STORE at s3://bucket/prefix.

# --- build: the release binary, with the lock file as is -------------------------------
FROM rust:1.95-bookworm AS builder
WORKDIR /src
COPY . .
# Cache mounts keep the registry and target dir between builds; the binary is copied out
# of the cached target dir so the next stage can see it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin tfpilot \
    && install -D -m 0755 target/release/tfpilot /out/tfpilot
# The data folder, owned by the runtime's non-root user (65532 in distroless).
RUN install -d -o 65532 -g 65532 -m 0750 /out/data

# --- runtime: glibc + CA certificates, no shell, no package manager ---------------------
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
COPY --from=builder /out/tfpilot /tfpilot
COPY --from=builder --chown=65532:65532 /out/data /var/lib/tfpilot
WORKDIR /var/lib/tfpilot
ENV TFPILOT_LISTEN=0.0.0.0:8080
EXPOSE 8080
USER 65532:65532
# No curl in distroless: the binary checks its own /healthz.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/tfpilot", "healthcheck"]
ENTRYPOINT ["/tfpilot"]
CMD ["serve"]
