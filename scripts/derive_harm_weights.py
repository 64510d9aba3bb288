"""Write hotspot/data/harm_weights_policeuk.csv from the raw ONS CSS weights (see hotspot/stats/harm.py).

    PYTHONPATH=. python scripts/derive_harm_weights.py [RAW_CSV]

RAW_CSV defaults to $HOTSPOT_DATA/harm-weights/ons_css_weights_2019_with_policeuk_category.csv.
tests/test_harm.py checks the committed table equals a fresh derivation.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from hotspot.core.settings import shared_data_dir
    from hotspot.stats.harm import DEFAULT_TABLE, RAW_RELATIVE, derive_type_weights

    raw = Path(argv[0]) if argv else shared_data_dir() / RAW_RELATIVE
    table = derive_type_weights(raw)
    DEFAULT_TABLE.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(DEFAULT_TABLE, index=False, float_format="%.6f", lineterminator="\n")
    print(f"wrote {DEFAULT_TABLE} ({len(table)} crime types) from {raw}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
