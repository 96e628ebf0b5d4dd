-- The quarantine, typed: what was refused, where it came from and why.
select source, file, line, reason, record, ingest_partition, ingested_at
from {{ source('raw', 'rejected_rows') }}
