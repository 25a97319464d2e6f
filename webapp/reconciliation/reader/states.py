"""US ship-to state normalisation: buyers type states freely, the ERP needs one USPS code per order."""

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

STATE = "state"
TERRITORY = "territory"
MILITARY = "military"
FOREIGN = "foreign"
MISSING = "missing"
UNKNOWN = "unknown"
US_KINDS = frozenset({STATE, TERRITORY, MILITARY})

STATES = {
    "AL": "ALABAMA", "AK": "ALASKA", "AZ": "ARIZONA", "AR": "ARKANSAS", "CA": "CALIFORNIA",
    "CO": "COLORADO", "CT": "CONNECTICUT", "DE": "DELAWARE", "FL": "FLORIDA", "GA": "GEORGIA",
    "HI": "HAWAII", "ID": "IDAHO", "IL": "ILLINOIS", "IN": "INDIANA", "IA": "IOWA",
    "KS": "KANSAS", "KY": "KENTUCKY", "LA": "LOUISIANA", "ME": "MAINE", "MD": "MARYLAND",
    "MA": "MASSACHUSETTS", "MI": "MICHIGAN", "MN": "MINNESOTA", "MS": "MISSISSIPPI", "MO": "MISSOURI",
    "MT": "MONTANA", "NE": "NEBRASKA", "NV": "NEVADA", "NH": "NEW HAMPSHIRE", "NJ": "NEW JERSEY",
    "NM": "NEW MEXICO", "NY": "NEW YORK", "NC": "NORTH CAROLINA", "ND": "NORTH DAKOTA", "OH": "OHIO",
    "OK": "OKLAHOMA", "OR": "OREGON", "PA": "PENNSYLVANIA", "RI": "RHODE ISLAND", "SC": "SOUTH CAROLINA",
    "SD": "SOUTH DAKOTA", "TN": "TENNESSEE", "TX": "TEXAS", "UT": "UTAH", "VT": "VERMONT",
    "VA": "VIRGINIA", "WA": "WASHINGTON", "WV": "WEST VIRGINIA", "WI": "WISCONSIN", "WY": "WYOMING",
    "DC": "DISTRICT OF COLUMBIA",
}
TERRITORIES = {
    "PR": "PUERTO RICO", "GU": "GUAM", "VI": "VIRGIN ISLANDS", "AS": "AMERICAN SAMOA",
    "MP": "NORTHERN MARIANA ISLANDS",
}
MILITARY_CODES = {"AA": "ARMED FORCES AMERICAS", "AE": "ARMED FORCES EUROPE", "AP": "ARMED FORCES PACIFIC"}
# Canadian provinces reach US marketplaces as ship-to values; they are not US states.
PROVINCES = {
    "AB": "ALBERTA", "BC": "BRITISH COLUMBIA", "MB": "MANITOBA", "NB": "NEW BRUNSWICK",
    "NL": "NEWFOUNDLAND AND LABRADOR", "NS": "NOVA SCOTIA", "NT": "NORTHWEST TERRITORIES", "NU": "NUNAVUT",
    "ON": "ONTARIO", "PE": "PRINCE EDWARD ISLAND", "QC": "QUEBEC", "SK": "SASKATCHEWAN", "YT": "YUKON",
}
# Explicit aliases only, never fuzzy matching: a wrong state means tax filed in the wrong place.
ALIASES = {
    "WASHINGTON DC": "DC", "WASHINGTON D C": "DC", "CALIF": "CA", "MASS": "MA", "PENN": "PA",
    "US VIRGIN ISLANDS": "VI", "U S VIRGIN ISLANDS": "VI", "UNITED STATES VIRGIN ISLANDS": "VI",
}
MISSING_VALUES = frozenset({"", "-", "--", "N/A", "NA", "NONE", "UNKNOWN", "NULL"})

KIND_OF = {code: STATE for code in STATES} | {code: TERRITORY for code in TERRITORIES}
KIND_OF |= {code: MILITARY for code in MILITARY_CODES}
BY_NAME = {name: code for table in (STATES, TERRITORIES, MILITARY_CODES) for code, name in table.items()}
BY_NAME |= ALIASES
PROVINCE_KEYS = frozenset(PROVINCES) | frozenset(PROVINCES.values()) | {"QUÉBEC"}
PUNCTUATION = re.compile(r"[.,']")
SPACING = re.compile(r"[\s\-]+")


@dataclass(frozen=True)
class StateValue:
    """A normalised ship-to value: the USPS code (empty unless US), its kind, and the raw text."""

    code: str
    kind: str
    raw: str

    @property
    def is_us(self) -> bool:
        """True for the 50 states, DC, territories and military post codes."""
        return self.kind in US_KINDS


@lru_cache(maxsize=4096)
def normalise_state(raw: str) -> StateValue:
    """Map 'wa', ' Washington ', 'N.Y.', 'Puerto Rico' to USPS codes; report anything else by kind."""
    text = unicodedata.normalize("NFKC", raw).strip()
    if text.upper() in MISSING_VALUES:
        return StateValue("", MISSING, raw)
    key = SPACING.sub(" ", PUNCTUATION.sub("", text.upper())).strip()
    squeezed = key.replace(" ", "")
    if len(squeezed) == 2 and squeezed in KIND_OF:
        return StateValue(squeezed, KIND_OF[squeezed], raw)
    if key in BY_NAME:
        code = BY_NAME[key]
        return StateValue(code, KIND_OF[code], raw)
    if key in PROVINCE_KEYS or squeezed in PROVINCE_KEYS:
        return StateValue("", FOREIGN, raw)
    return StateValue("", UNKNOWN, raw)


def remembered_state(states: dict[str, StateValue], text: str) -> StateValue:
    """The normalised state of ``text``, remembered in ``states`` (a report has few distinct spellings)."""
    value = normalise_state(text)
    if len(states) < 1000:
        states[text] = value
    return value


def normalise_country(raw: str) -> str:
    """'US', 'USA', 'United States' → 'US'; other values upper-cased; blank stays blank."""
    key = SPACING.sub(" ", PUNCTUATION.sub("", raw.strip().upper()))
    if key in {"US", "USA", "UNITED STATES", "UNITED STATES OF AMERICA"}:
        return "US"
    return key
