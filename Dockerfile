# The Airflow image of docker-compose.yml: Airflow 3.3 with the project installed from the
# lock, and a Java runtime for the Spark driver that every Spark task starts (client mode).
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
    && apt-get install -y --no-install-recommends default-jre-headless \
    && apt-get clean \
    && rm -rf /var/lib/apt/lists/*
ENV JAVA_HOME=/usr/lib/jvm/default-java

# The repository's tree: the DAG, the dbt project and the configs are read from it
# (grouprebate.paths.REPO_ROOT), so the package is installed in place (editable).
COPY --chown=airflow:0 . /opt/grouprebate
USER airflow
WORKDIR /opt/grouprebate
# As `make install`: every package at the version of the lock; then pyspark 4.3 again on
# top, as the Spark provider's pyspark-client (4.2, Spark Connect only) overwrites its
# modules.
RUN pip install --no-cache-dir -c requirements/constraints.txt -e . \
    && pip install --no-cache-dir --no-deps --force-reinstall -c requirements/constraints.txt pyspark
WORKDIR /opt/airflow
