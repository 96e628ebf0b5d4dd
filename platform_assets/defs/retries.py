"""How a step that talks to a store retries: every step in the `warehouse` pool reads or writes the
warehouse (Postgres in a deployment, a DuckDB file locally) and many talk to MLflow (a server, or its
own database). A dropped connection, a restarted server or a briefly locked SQLite file passes after
a wait; a write is one transaction, so a retried step starts from the previous table. Waits double
(2 s, 4 s) with jitter, so runs that failed together do not retry in lockstep. A step whose error
would only repeat raises `dg.Failure(..., allow_retries=False)`."""

import dagster as dg

SERVER_RETRY = dg.RetryPolicy(
    max_retries=2, delay=2, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
