"""The Hive metastore service the platform's Spark processes share.

Under Dagster several processes use Spark at once: a run's steps (one session per run process)
and the dbt it starts (dbt-spark's own session, in a subprocess). An embedded Derby metastore
admits one process at a time, so a deployment on Spark runs one metastore service and points
every session at it (``DATAFLYWHEEL_SPARK_METASTORE_URI=thrift://host:port``), as Spark clusters
do. This is Hive's own ``HiveMetaStore`` from the jars pyspark ships, its catalog in Derby under
the home's ``spark/`` (the same database and warehouse folder the embedded metastore uses, so
tables carry over). A production deployment would back it with PostgreSQL; its JDBC driver is
not among pyspark's jars and cannot be fetched here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from dataflywheel.settings import Settings
from dataflywheel.warehouse.spark import session_parameters

SERVICE_CLASS = "org.apache.hadoop.hive.metastore.HiveMetaStore"


def metastore_command(config: Settings, port: int) -> list[str]:
    """The java command line of the service for ``config``'s home: the catalog database and the
    warehouse folder are those of dbt's ``spark`` target, read from its parameters."""
    import pyspark

    java = shutil.which("java")
    if java is None:
        raise RuntimeError("the Spark metastore needs Java 17 (Debian: default-jre-headless)")
    spark = session_parameters(config.environment())
    jars = Path(pyspark.__file__).parent / "jars"
    properties = {
        "javax.jdo.option.ConnectionURL": spark["spark.hadoop.javax.jdo.option.ConnectionURL"],
        "hive.metastore.warehouse.dir": spark["spark.sql.warehouse.dir"],
        "derby.system.home": str(config.home / "spark"),
        "datanucleus.schema.autoCreateAll": "true",  # the catalog's tables, made on first start
        "hive.metastore.schema.verification": "false",
        "hive.async.log.enabled": "false",  # its asynchronous logger needs a jar pyspark lacks
    }
    return [java, "-Xmx512m", "-cp", f"{jars}/*", *(f"-D{k}={v}" for k, v in properties.items())] + [
        SERVICE_CLASS,
        "-p",
        str(port),
    ]
