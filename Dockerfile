# Two images from one build:
#   default target (`controller`): only the binary, the shared libraries it links and the time zone
#     database, on an empty base; no shell, no package manager; user 65532.
#   `--target node-agent`: the same binary on Debian, with the shell and `nsenter` the agent runs
#     the host's update command with (it runs as root in a privileged pod: see manifests/node-agent).
# The bases default to the official images; hack/image-test.sh passes locally made ones instead.
ARG BUILD_IMAGE=swift:6.3-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4-openssl-dev libyaml-dev pkg-config tzdata \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve dependencies first so that source changes do not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product foresight \
 && install -D "$(swift build -c release --show-bin-path)/foresight" /out/foresight \
 && strip /out/foresight
# The controller's whole root filesystem: the binary, every shared library it loads (as the
# dynamic loader resolves them here), the zone database (UpdateWindow cron time zones), and a
# passwd entry for its user. Nothing else.
RUN set -e; root=/out/rootfs; \
    install -D /out/foresight "$root/usr/local/bin/foresight"; \
    for lib in $(ldd /out/foresight | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }'); do \
      cp --parents -L "$lib" "$root/"; \
    done; \
    mkdir -p "$root/usr/share"; cp -a /usr/share/zoneinfo "$root/usr/share/"; \
    mkdir -p "$root/etc" "$root/tmp"; chmod 1777 "$root/tmp"; \
    printf 'root:x:0:0::/root:/nonexistent\nnonroot:x:65532:65532::/nonexistent:/nonexistent\n' > "$root/etc/passwd"; \
    printf 'root:x:0:\nnonroot:x:65532:\n' > "$root/etc/group"; \
    printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"; \
    "$root/usr/local/bin/foresight" --help > /dev/null

FROM ${RUNTIME_IMAGE} AS node-agent
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 libyaml-0-2 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/foresight /usr/local/bin/foresight
ENTRYPOINT ["/usr/local/bin/foresight"]
CMD ["node-agent", "--help"]

FROM scratch AS controller
COPY --from=build /out/rootfs/ /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/foresight"]
CMD ["run", "--leader-elect", "--metrics-address=0.0.0.0:8080"]
