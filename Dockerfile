# Build: the official Swift image (Debian bookworm), with the C libraries' headers.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4-openssl-dev libyaml-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Resolve dependencies first so that source changes do not refetch them.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product foresight \
 && install -D "$(swift build -c release --show-bin-path)/foresight" /out/foresight

# Run: slim Debian with only the shared libraries the binary links (libcurl, libyaml), as non-root.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcurl4 libyaml-0-2 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/foresight /usr/local/bin/foresight
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/foresight"]
CMD ["run", "--leader-elect", "--metrics-address=0.0.0.0:8080"]
