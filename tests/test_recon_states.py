"""US ship-to state normalisation: codes, names, territories, military, foreign and unknown values."""

import pytest

from webapp.reconciliation.reader.states import FOREIGN, MILITARY, MISSING, STATE, TERRITORY, UNKNOWN, normalise_state


@pytest.mark.parametrize(
    ("raw", "code", "kind"),
    [
        ("WA", "WA", STATE),
        (" wa ", "WA", STATE),
        ("Washington", "WA", STATE),
        ("new  york", "NY", STATE),
        ("New-York", "NY", STATE),
        ("N.Y.", "NY", STATE),
        ("CALIFORNIA", "CA", STATE),
        ("Calif.", "CA", STATE),
        ("DC", "DC", STATE),
        ("Washington D.C.", "DC", STATE),
        ("District of Columbia", "DC", STATE),
        ("ＣＡ", "CA", STATE),  # full-width letters, NFKC
        ("PR", "PR", TERRITORY),
        ("Puerto Rico", "PR", TERRITORY),
        ("gu", "GU", TERRITORY),
        ("U.S. Virgin Islands", "VI", TERRITORY),
        ("American Samoa", "AS", TERRITORY),
        ("MP", "MP", TERRITORY),
        ("AE", "AE", MILITARY),
        ("Armed Forces Pacific", "AP", MILITARY),
        ("aa", "AA", MILITARY),
        ("Ontario", "", FOREIGN),
        ("ON", "", FOREIGN),
        ("Québec", "", FOREIGN),
        ("", "", MISSING),
        ("--", "", MISSING),
        ("N/A", "", MISSING),
        ("XX", "", UNKNOWN),
        ("Calfornia", "", UNKNOWN),
        ("98110", "", UNKNOWN),
        ("東京都", "", UNKNOWN),
    ],
)
def test_normalise_state(raw: str, code: str, kind: str) -> None:
    value = normalise_state(raw)
    assert (value.code, value.kind, value.raw) == (code, kind, raw)


def test_us_flag_covers_states_territories_and_military() -> None:
    assert normalise_state("TX").is_us and normalise_state("PR").is_us and normalise_state("AP").is_us
    assert not normalise_state("ON").is_us and not normalise_state("XX").is_us
