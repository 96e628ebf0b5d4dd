"""The Postgres databases a `SHELFCAST_WAREHOUSE=postgres` deployment needs: the warehouse's (from
SHELFCAST_PG_DSN) and, beside it, `<name>_dagster` and `<name>_mlflow`.

Byte-order ("C") collation: text sorts the way DuckDB sorts it, so both warehouses order series alike.
"""

from urllib.parse import urlparse

DAGSTER_SUFFIX, MLFLOW_SUFFIX = "dagster", "mlflow"
COLLATION = "template template0 encoding 'UTF8' lc_collate 'C' lc_ctype 'C'"


def sibling_database(dsn: str, suffix: str) -> str:
    """The DSN of `<database>_<suffix>` on the same server: MLflow and Dagster each need their own
    database (both have a `runs` table)."""
    url = urlparse(dsn)
    return url._replace(path=f"{url.path.rstrip('/') or '/postgres'}_{suffix}").geturl()


def ensure_databases(dsn: str) -> list[str]:
    """The databases created (existing ones are left alone)."""
    import adbc_driver_postgresql.dbapi as adbc  # only a Postgres deployment loads the driver

    wanted = [dsn, sibling_database(dsn, DAGSTER_SUFFIX), sibling_database(dsn, MLFLOW_SUFFIX)]
    server = urlparse(dsn)._replace(path="/postgres").geturl()
    created = []
    with adbc.connect(server, autocommit=True) as con, con.cursor() as cur:
        for url in wanted:
            name = urlparse(url).path.lstrip("/")
            cur.execute("select count(*) from pg_database where datname = $1", [name])
            if cur.fetchone()[0] == 0:
                cur.execute(f'create database "{name}" {COLLATION}')
                created.append(name)
    return created
