# Airflow 3 with this provider, for docker/compose.celery.yaml (API server, scheduler, DAG processor,
# triggerer and Celery workers all run this image). Dependencies come from uv.lock (the same versions the
# tests run against); the provider is installed as a wheel built from this checkout.
#   docker build -f docker/airflow.Dockerfile -t airflow-bitrix24 .
FROM python:3.11-slim AS build
RUN pip install --no-cache-dir uv
WORKDIR /src
COPY pyproject.toml uv.lock README.md LICENSE ./
COPY bitrix24_provider ./bitrix24_provider
COPY airflow_provider_bitrix24 ./airflow_provider_bitrix24
COPY dags_examples ./dags_examples
RUN uv build --wheel --out-dir /wheels \
 && uv export --locked --no-dev --no-emit-project --no-hashes \
      --extra airflow --extra postgres --extra celery --extra redis --extra parquet \
      --output-file /wheels/requirements.txt

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 AIRFLOW_HOME=/opt/airflow PATH=/opt/airflow/venv/bin:$PATH
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir uv \
 && uv venv /opt/airflow/venv \
 && uv pip install --python /opt/airflow/venv/bin/python -r /wheels/requirements.txt \
 && uv pip install --python /opt/airflow/venv/bin/python --no-deps /wheels/*.whl \
 && rm -rf /wheels
COPY dags_examples /opt/airflow/dags
WORKDIR /opt/airflow
ENTRYPOINT ["airflow"]
