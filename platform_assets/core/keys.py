"""What names a series everywhere: a product in a store (`store_id` is "all" when a feed has no stores)."""

KEYS = ["product_id", "store_id"]
# Rows of a series in time order: the stable sort every table and frame uses.
ORDER = [*KEYS, "period_date"]
# The same order in SQL.
ORDER_SQL = ", ".join(ORDER)
