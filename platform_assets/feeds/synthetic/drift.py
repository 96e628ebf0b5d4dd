"""The drift switch: from `drift_from` on, half the catalog sells twice as much with a new weekly
pattern (demand), one category's price regime jumps 25% and its main supplier adds 10% (price)."""

import numpy as np

DRIFT_KINDS = ("demand", "price", "both")
DEMAND_DRIFT_SHARE, DEMAND_DRIFT_FACTOR = 0.5, 2.0
PRICE_DRIFT_CATEGORY, PRICE_DRIFT_SUPPLIER = 1.25, 1.10


def drift_choices(catalog: dict, rng: np.random.Generator) -> dict:
    """Who drifts, drawn whatever the drift setting so the streams never depend on it."""
    cat = catalog["cat"]
    present = np.unique(cat)
    category = present[int(rng.random() * len(present))]
    suppliers, counts = np.unique(catalog["supplier"][cat == category], return_counts=True)
    return {
        "products": rng.random(len(cat)) < DEMAND_DRIFT_SHARE,  # demand drift: part of the catalog
        "weekly": rng.normal(0.0, 0.25, 7),  # their new weekly pattern
        "category": category,  # price drift: the category whose price regime jumps
        "supplier": suppliers[np.argmax(counts)],  # and its main supplier, who raises all its prices
    }


def drift_prices(
    kind: str,
    catalog: dict,
    drift: dict,
    after_drift: np.ndarray,
    regular: np.ndarray,
    price: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Regular and paid prices (products, days) with the price drift applied when `kind` asks for it."""
    if kind not in ("price", "both"):
        return regular, price
    hit = (catalog["cat"] == drift["category"])[:, None] & after_drift[None, :]
    raised = (catalog["supplier"] == drift["supplier"])[:, None] & after_drift[None, :]
    factor = np.where(hit, PRICE_DRIFT_CATEGORY, 1.0) * np.where(raised, PRICE_DRIFT_SUPPLIER, 1.0)
    return np.round(regular * factor, 2), np.round(price * factor, 2)


def drift_demand(
    kind: str,
    drift: dict,
    after_drift: np.ndarray,
    log_mu: np.ndarray,
    weekly: np.ndarray,
    weekly_cat: np.ndarray,
    weekday: np.ndarray,
) -> np.ndarray:
    """Log mean demand (products, days) with the demand drift applied when `kind` asks for it: the
    drifting products' weekly pattern is replaced and their level multiplied."""
    if kind not in ("demand", "both"):
        return log_mu
    shifted = drift["products"][:, None] & after_drift[None, :]
    new_weekly = drift["weekly"][weekday][None, :] - weekly + weekly_cat.mean(axis=1)[:, None]
    return log_mu + np.where(shifted, np.log(DEMAND_DRIFT_FACTOR) + new_weekly, 0.0)
