"""The landing-zone feed: the user's own CSV / Parquet / JSONL files, checked against the contract.

    DIR/products.{csv,parquet}        product_id*, name, category, brand, supplier_id, extra attributes
    DIR/suppliers.{csv,parquet}       supplier_id*, name, country                        (optional)
    DIR/observations/*.{csv,parquet,jsonl}
                                      date* (ISO), product_id*, store_id, price, units_sold, on_promo

Every value is read as text and validated with vectorized expressions, so a bad value rejects its row
(with file, line, reason and the record) instead of failing the run; so does a bad JSONL line or a
truncated last CSV line. A file that cannot be parsed at all, lacks a required column, or lacks the
target column while dated within the history is moved to the quarantine directory with a
`.report.txt` saying why; the other files still land. Every other entry of the landing directory is
listed as ignored with the reason (a symlink out of the directory is never followed).
`line` is the 1-based data record of the file (header excluded; the physical line in JSONL); blank
lines are not records. Column names are matched case-insensitively.

    layout.py   which files the feed reads, their fingerprints, the quarantine
    reading.py  files as text tables, each parsed once per fingerprint and process
    manifest.py each file's first and last date by fingerprint, for the partitions' start at load time
    checks.py   the contract's columns and row checks
    feed.py     FilesFeed: the landing zone read once, sliced per window
"""
