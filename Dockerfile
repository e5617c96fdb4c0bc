# syntax=docker/dockerfile:1
#
# Switchman as a container. Build with `make image`, or:
#
#	docker build --build-arg VERSION=$(git describe --tags --always --dirty) -t switchman .
#
# Run it with your configuration mounted at /etc/switchman/switchman.yaml
# (SWITCHMAN_CONFIG names it, so `docker run … switchman check-config` and
# `… audit -since 7d` read it too) and the chat tokens it refers to passed
# as environment variables. Keep
# store.path under /var/lib/switchman (the only directory the bot's user may
# write), listen on 0.0.0.0:8080, and run with --init so the processes that
# restart commands detach are reaped. On SIGTERM the bot lets running
# deploys finish for up to 5 minutes: run it with --stop-timeout 330 (in
# Kubernetes, terminationGracePeriodSeconds: 330), or Docker kills it after
# 10 s and a running deploy is reported interrupted.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" \
        -o /out/bot ./cmd/bot

FROM debian:bookworm-slim
# The local transport runs deploy steps through /bin/sh, unpacking with tar
# and gzip or zstd; ca-certificates lets the bot fetch HTTPS artifacts.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates tar gzip zstd \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 switchman \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/switchman \
        --no-create-home --shell /usr/sbin/nologin switchman \
    && install -d -o switchman -g switchman -m 0750 /var/lib/switchman
COPY --from=build /out/bot /usr/local/bin/bot
# The reference config alone, not config/: whatever else lies there in the
# build context (an operator's own switchman.yaml with its tokens, an SSH
# key tried out beside it) would ship in every copy of the image.
COPY config/reference.yaml /etc/switchman/reference.yaml
# No secrets are baked in: tokens come from the environment at run time.
# Configs that read bot.listen from ${SWITCHMAN_LISTEN}, as the reference one
# does, listen on all interfaces of the container.
ENV SWITCHMAN_LISTEN=0.0.0.0:8080
# Configs that read store.path from ${SWITCHMAN_STORE}, as the reference one
# does, keep the store where the bot's user may write; /etc/switchman, where
# a relative store.path leads, is root's.
ENV SWITCHMAN_STORE=/var/lib/switchman/switchman.db
# The config every command reads, not only the default serve: a command
# given to `docker run` replaces CMD, and -config with it.
ENV SWITCHMAN_CONFIG=/etc/switchman/switchman.yaml
WORKDIR /var/lib/switchman
USER switchman
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/bot"]
CMD ["serve"]
