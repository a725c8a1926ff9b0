# bambu-exporter image; also runs the printer simulator (`simulate`) for the demo profile.
#   docker build -t bambu-exporter .
#   docker run -p 9851:9851 -e DB_HOST=... -e DB_NAME=... -e DB_USER=... -e DB_PASSWORD=... bambu-exporter
FROM python:3.11-slim-bookworm

# openssl: the simulator makes its self-signed printer certificate with it.
RUN apt-get update \
    && apt-get install -y --no-install-recommends openssl \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter ./exporter
# The commit built, for --version and bambu_exporter_build_info{revision}:
#   docker build --build-arg REVISION=$(git rev-parse HEAD) -t bambu-exporter .
ARG REVISION=unknown
RUN printf '%s\n' "$REVISION" > exporter/REVISION \
    && pip install --no-cache-dir . && rm -rf /src

WORKDIR /
USER nobody
EXPOSE 9851
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9851/healthz', timeout=4)"]
ENTRYPOINT ["bambu-exporter"]
CMD ["--web.listen-address", ":9851"]
