# touchpulse: the CLI, the Faust worker and the Prefect flows in one image.
# Built by infra/compose.yaml; configured only through TOUCHPULSE_* environment variables.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /opt/touchpulse/src
# Only what the package needs (see .dockerignore): a change to tests or docs does not rebuild it.
COPY pyproject.toml README.md ./
COPY touchpulse ./touchpulse
COPY streams ./streams
COPY flows ./flows
COPY dashboards ./dashboards
RUN pip install . \
    && touchpulse --help > /dev/null

# An unprivileged user; its home holds local state (TOUCHPULSE_HOME) and, for the scheduler,
# the reports. The secrets directory receives the Grafana service-account token.
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/touchpulse --create-home touchpulse \
    && install -d -o touchpulse -g touchpulse -m 0700 /var/lib/touchpulse-secrets
USER touchpulse
WORKDIR /var/lib/touchpulse
ENV TOUCHPULSE_HOME=/var/lib/touchpulse

ENTRYPOINT ["touchpulse"]
CMD ["--help"]
