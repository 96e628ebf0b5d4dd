"""Content digests of feature frames, logged with builds and models to trace them to the exact rows."""

from dataclasses import dataclass

import polars as pl


def frame_digest(df: pl.DataFrame) -> str:
    """A content digest logged with the model, so a run can be traced to the exact feature set."""
    return Tally().add(df).digest


@dataclass
class Tally:
    """Rows, columns and `frame_digest` of frames added one by one: the digest sums row hashes (as
    integers, masked at the end), so chunks of one schema give the digest of the whole frame."""

    rows: int = 0
    columns: int = 0
    hashes: int = 0

    def add(self, df: pl.DataFrame) -> "Tally":
        self.rows, self.columns = self.rows + df.height, df.width
        self.hashes += int(df.hash_rows(seed=7).sum())
        return self

    @property
    def digest(self) -> str:
        return f"{self.hashes & (2**64 - 1):016x}-{self.rows}x{self.columns}"
