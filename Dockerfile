# One image for Dagster on ECS: webserver, daemon, the code-location gRPC server and every run task
# (EcsRunLauncher). Built by the CDK app (infra/stacks/orchestration.py) for linux/amd64.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DAGSTER_HOME=/opt/dagster/home

WORKDIR /opt/dagster/app

# Dependencies first (their layer survives code edits), then the project itself.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print(chr(10).join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt

COPY pipeline_defs ./pipeline_defs
COPY assets ./assets
COPY resources ./resources
COPY sensors ./sensors
COPY workspace.yaml ./
RUN pip install --no-deps .

# infra/dagster: the AWS dagster.yaml, workspace and the code server's bootstrap (not the CDK app).
COPY infra/__init__.py ./infra/__init__.py
COPY infra/dagster ./infra/dagster
RUN mkdir -p "$DAGSTER_HOME" \
 && cp infra/dagster/dagster.yaml infra/dagster/workspace.yaml "$DAGSTER_HOME"/ \
 && useradd --uid 10001 --home-dir "$DAGSTER_HOME" --no-create-home dagster \
 && chown -R dagster "$DAGSTER_HOME"

USER dagster
EXPOSE 3000 4000
# Each ECS task definition sets its own command (webserver, daemon, code server, run).
CMD ["dagster", "--help"]
