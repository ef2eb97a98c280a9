# One image holds every handshake program; compose.yaml picks the command.
FROM debian:12-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config librdkafka-dev libcurl4-openssl-dev \
      libmsgpack-dev libpq-dev libcmocka-dev libmicrohttpd-dev libsodium-dev \
      libjansson-dev ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
    && cmake --build /build -j"$(nproc)"

FROM debian:12-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      librdkafka1 libcurl4 libmsgpackc2 libpq5 libmicrohttpd12 libsodium23 \
      libjansson4 ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-create-home handshake
COPY --from=build /build/bin/ /usr/local/bin/
COPY schemas/providers.json /etc/handshake/providers.json
USER handshake
