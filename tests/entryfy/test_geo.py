"""The geofence verdict: inside, outside and the edge, and the phone's accuracy."""

from __future__ import annotations

from geopy.distance import geodesic
from hypothesis import given
from hypothesis import strategies as st

from entryfy.ops import geo

CENTER = (59.3293, 18.0686)


def point_at(distance_m: float, bearing: float, center=CENTER) -> tuple[float, float]:
    p = geodesic(meters=distance_m).destination(center, bearing)
    return p.latitude, p.longitude


@given(radius=st.integers(10, 5000), offset=st.floats(-0.9, 0.9), bearing=st.floats(0, 360),
       lat=st.floats(-60, 60), lon=st.floats(-179, 179))
def test_verdict_follows_the_radius_with_no_accuracy(radius, offset, bearing, lat, lon):
    """Just inside the edge counts as inside, just outside as outside (to a centimetre),
    anywhere on Earth and in every direction."""
    d = radius * (1 + offset)
    if abs(d - radius) < 0.01:
        d = radius - 0.01
    v = geo.check(lat, lon, radius, *point_at(d, bearing, (lat, lon)))
    assert v.inside == (d <= radius)
    assert abs(v.distance_m - d) <= 0.51
    assert v.accuracy_credit_m == 0


@given(radius=st.integers(10, 2000), beyond=st.floats(0.5, 200), accuracy=st.floats(0, 2000))
def test_accuracy_credit_is_capped(radius, beyond, accuracy):
    lat, lon = point_at(radius + beyond, 45)
    v = geo.check(*CENTER, radius, lat, lon, accuracy)
    # The policy spelled out (not read from the module): a fix worse than 1000 m earns
    # nothing, a better one earns its accuracy up to 50 m.
    credit = 0.0 if accuracy > 1000 else min(accuracy, 50)
    if abs(beyond - credit) > 0.01:
        assert v.inside == (beyond <= credit)
    assert v.accuracy_credit_m == round(credit)


def test_edge_of_the_radius():
    assert geo.check(*CENTER, 200, *point_at(199.999, 90)).inside
    assert not geo.check(*CENTER, 200, *point_at(200.1, 90)).inside


def test_accuracy_gives_benefit_of_the_doubt_near_the_edge():
    lat, lon = point_at(230, 0)
    assert not geo.check(*CENTER, 200, lat, lon).inside
    assert geo.check(*CENTER, 200, lat, lon, accuracy_m=40).inside


def test_huge_accuracy_does_not_check_in_from_afar():
    lat, lon = point_at(2000, 0)
    assert not geo.check(*CENTER, 200, lat, lon, accuracy_m=5000).inside
    lat, lon = point_at(260, 0)
    assert not geo.check(*CENTER, 200, lat, lon, accuracy_m=900).inside  # capped at 50


def test_distance_is_whole_metres_and_coarse_is_about_a_kilometre():
    lat, lon = point_at(123.4, 10)
    assert geo.check(*CENTER, 200, lat, lon).distance_m == 123
    assert geo.coarse(59.329312, 18.068634) == (59.33, 18.07)


@given(lat1=st.floats(-89, 89), lon1=st.floats(-180, 180), lat2=st.floats(-89, 89),
       lon2=st.floats(-180, 180))
def test_shared_calculator_measures_as_a_new_geodesic(lat1, lon1, lat2, lon2):
    """The one shared calculator gives what geopy's geodesic() gives, in metres."""
    expected = geodesic((lat1, lon1), (lat2, lon2)).meters
    assert abs(geo.distance_m(lat1, lon1, lat2, lon2) - expected) <= 1e-6 * max(1, expected)


def test_accuracy_limits_are_inclusive():
    """A fix reporting exactly 1000 m is still accepted (credit 50 m); 1000.5 m earns nothing."""
    lat, lon = point_at(240, 0)
    v = geo.check(*CENTER, 200, lat, lon, accuracy_m=1000)
    assert (v.inside, v.accuracy_credit_m) == (True, 50)
    v = geo.check(*CENTER, 200, lat, lon, accuracy_m=1000.5)
    assert (v.inside, v.accuracy_credit_m) == (False, 0)
    v = geo.check(*CENTER, 200, lat, lon, accuracy_m=-1)  # nonsense: no credit
    assert (v.inside, v.accuracy_credit_m) == (False, 0)


def test_sub_metre_accuracy_counts_from_zero():
    """The accepted range starts at 0 m, not 1 m: a 0.9 m fix 0.5 m outside the fence is
    inside by its credit; a 0 m fix gets none and stays out."""
    lat, lon = point_at(200.5, 0)
    v = geo.check(*CENTER, 200, lat, lon, accuracy_m=0.9)
    assert (v.inside, v.accuracy_credit_m) == (True, 1)
    v = geo.check(*CENTER, 200, lat, lon, accuracy_m=0)
    assert (v.inside, v.accuracy_credit_m) == (False, 0)


def test_a_fix_exactly_on_the_edge_is_inside():
    lat, lon = point_at(150, 30)
    d = geo.distance_m(*CENTER, lat, lon)
    assert geo.check(*CENTER, d, lat, lon).inside
    assert not geo.check(*CENTER, d - 0.001, lat, lon).inside
