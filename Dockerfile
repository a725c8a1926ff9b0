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

# Where `hms-texts fetch` saves Bambu's texts (a Compose volume is mounted here and takes
# this owner), for the exporter's --hms.text-file.
RUN install -d -o nobody -g nogroup /var/lib/bambu-exporter
WORKDIR /
USER nobody
EXPOSE 9851
# Ready = the printer list was read and every worker answers. The check reads the same
# BAMBU_* variables as the exporter (a HEALTHCHECK does not see CMD's flags), so with
# --web.config.file set BAMBU_WEB_CONFIG_FILE, and for basic auth
# BAMBU_HEALTHCHECK_PASSWORD_FILE (for mTLS BAMBU_HEALTHCHECK_CLIENT_CERT/_KEY) too.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["bambu-exporter", "healthcheck", "--probe", "ready", "--timeout", "4s"]
ENTRYPOINT ["bambu-exporter"]
CMD ["--web.listen-address", ":9851"]
