"""Chunks of whole peer groups: a full build holds one chunk of the series in memory at a time.

The only features reading other series read a series' peers (`columns.PEERS`), so a build over whole
peer groups gives their rows exactly as the build over everything does.
"""

from dataclasses import dataclass

import polars as pl

from platform_assets.features.columns import PEERS


@dataclass(frozen=True)
class Chunk:
    """Whole peer groups (PEERS) built together: the products of `categories` (None: the products with
    no category or missing from the catalog) in every store, or in `stores` only."""

    categories: tuple[str | None, ...]
    stores: tuple[str, ...] | None = None

    def select(self, frame: pl.DataFrame, products: pl.DataFrame) -> pl.DataFrame:
        """The rows of `frame` (sales, series, plans: keyed by product and store) in this chunk."""
        named = [c for c in self.categories if c is not None]
        inside = pl.col("product_id").is_in(products.filter(pl.col("category").is_in(named))["product_id"])
        if None in self.categories:
            categorized = products.filter(pl.col("category").is_not_null())["product_id"]
            inside = inside | ~pl.col("product_id").is_in(categorized)
        if self.stores is not None:
            inside = inside & pl.col("store_id").is_in(self.stores)
        return frame.filter(inside)


def category_chunks(products: pl.DataFrame, rows: pl.DataFrame, max_rows: int) -> list[Chunk]:
    """Peer groups packed, in sorted order, into chunks of at most `max_rows` rows: whole categories while
    they fit, a bigger category split by store (a store's group bigger still is a chunk of its own).
    `rows`: product_id, store_id and n, the series' rows (listed more than once, they add up; list the
    series without rows too, with n = 0, so a chunk builds their future rows)."""
    groups = (
        rows.join(products.select("product_id", "category"), on="product_id", how="left")
        .group_by(PEERS)
        .agg(pl.col("n").sum())
        .sort(PEERS, nulls_last=True)
        .group_by("category", maintain_order=True)
        .agg("store_id", "n")
    )
    chunks: list[Chunk] = []
    pending: list[str | None] = []  # whole categories waiting for the next chunk
    size = 0
    for category, stores, counts in groups.iter_rows():
        if pending and size + sum(counts) > max_rows:
            chunks.append(Chunk(tuple(pending)))
            pending, size = [], 0
        if sum(counts) <= max_rows:
            pending.append(category)
            size += sum(counts)
            continue
        part: list[str] = []
        part_size = 0
        for store, n in zip(stores, counts, strict=True):
            if part and part_size + n > max_rows:
                chunks.append(Chunk((category,), tuple(part)))
                part, part_size = [], 0
            part.append(store)
            part_size += n
        chunks.append(Chunk((category,), tuple(part)))
    if pending:
        chunks.append(Chunk(tuple(pending)))
    return chunks
