"""Templates (reliability check 24: sandbox, size and time caps in a subprocess) and the pace
arithmetic (budgets, rolling windows, jitter) without a database."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backup.errors import UsageError
from exporters.campaigns.model import target_of, with_ref
from exporters.campaigns.pacing import (
    CHANNEL_PACE,
    Budget,
    Clock,
    Pace,
    gap,
    next_send_at,
    pace_for,
    schedule,
)
from exporters.campaigns.templates import (
    MAX_OUTPUT,
    Renderer,
    TemplateError,
    check_syntax,
    clean_field,
    split_subject,
    split_variants,
)

T = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_variants_split_on_a_dash_line():
    source = "\ufeffHi {{ name }}\r\n---\r\nHello {{ name }}\n---  \n\n--- not a separator\n"
    assert split_variants(source) == ["Hi {{ name }}", "Hello {{ name }}", "--- not a separator"]
    with pytest.raises(TemplateError, match="the same"):
        split_variants("Hi  {{ name }}\n---\nHi {{ name }}\n")
    with pytest.raises(TemplateError, match="empty"):
        split_variants("---\n\n---\n")
    with pytest.raises(TemplateError, match="line 2"):
        check_syntax(["ok", "fine\n{% if %}"])


@pytest.mark.parametrize("payload", [
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ name.__class__ }}",
    "{{ ''|attr('format') }}",
    "{{ '{0.__class__}'.format(name) }}",
    "{{ 'a' * 10**8 }}",
    "{{ 'a' * 1000000 }}",
    "{% for i in range(10**6) %}x{% endfor %}",
    "{{ 9 ** 999999 }}",
    "{% for i in range(999) %}{{ 'x' * 100 }}{% endfor %}",
    "{% set s = 'x' * 9000 %}{{ s ~ s }}{{ s }}",
    "{{ name.format }}",
    "{{ nmae }}",
    "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
])
def test_hostile_templates_fail_with_a_security_or_cap_error(payload):
    with Renderer([payload]) as renderer:
        start = time.monotonic()
        with pytest.raises(TemplateError):
            renderer.render(0, {"name": "Ada"})
        assert time.monotonic() - start < 1.5


def test_a_template_that_runs_too_long_is_killed_after_a_second():
    loops = "{% for a in range(1000) %}{% for b in range(1000) %}{% for c in range(1000) %}{% endfor %}{% endfor %}{% endfor %}"
    with Renderer([loops, "ok {{ name }}"]) as renderer:
        start = time.monotonic()
        with pytest.raises(TemplateError, match="longer than 1 s"):
            renderer.render(0, {"name": "Ada"})
        assert time.monotonic() - start < 2.5
        assert renderer.render(1, {"name": "Ada"}) == "ok Ada"  # a new worker takes over


def test_rendering_is_plain_text_and_capped():
    with Renderer(["Hi {{ name }} <b>{{ link }}</b>", "{{ 'y' * 9999 }}{{ 'z' * 2 }}"]) as renderer:
        assert renderer.render(0, {"name": "<script>", "link": "x"}) == "Hi <script> <b>x</b>"  # not HTML: no escaping
        with pytest.raises(TemplateError, match=f"longer than {MAX_OUTPUT:,}"):
            renderer.render(1, {})


def test_fields_are_cleaned_of_hidden_characters_and_mentions():
    assert clean_field("Ana\r\nBcc: x@evil.example") == "Ana Bcc: x@evil.example"
    assert clean_field("Bo @victim@evil.example", social=True) == "Bo \uff20victim\uff20evil.example"
    assert clean_field("\u202eevil\u2066 \u200bname\x00") == "evil name"
    assert len(clean_field("x" * 100_000)) == 64
    assert clean_field(None) == ""


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_a_cleaned_field_never_holds_a_line_break_or_a_mention(value):
    cleaned = clean_field(value, social=True)
    assert "\n" not in cleaned and "\r" not in cleaned and "@" not in cleaned and len(cleaned) <= 64


def test_subject_lines():
    assert split_subject("Subject: Hello there \nBody\nmore") == ("Hello there", "Body\nmore")
    assert split_subject("No subject\nBody") == (None, "No subject\nBody")


def test_links_get_a_ref_and_targets_ignore_the_query():
    assert with_ref("https://x.example/join?utm=a&ref=old#top", "abc") == "https://x.example/join?utm=a&ref=abc#top"
    assert with_ref(None, "abc") is None
    assert target_of("https://Letters.Example/join/?ref=1", "n") == "letters.example/join"
    assert target_of(None, "n") == "campaign:n"


# ---------------------------------------------------------------------------------------------
# Pace


def test_budgets_are_ceilings_and_follow_the_rules():
    assert CHANNEL_PACE["mastodon"].per_day <= 20 and CHANNEL_PACE["bluesky"].per_day <= 20
    assert CHANNEL_PACE["bluesky"].min_interval >= 60 and CHANNEL_PACE["x"].min_interval >= 120
    assert CHANNEL_PACE["x"].per_day <= 20 and CHANNEL_PACE["email"].per_day <= 200
    assert pace_for("email", per_day=50) == Pace(50, 40, 30.0)
    assert pace_for("email", per_day=10).per_hour == 10
    for channel, kw in (("mastodon", {"per_day": 21}), ("email", {"per_hour": 41}), ("bluesky", {"per_day": 0})):
        with pytest.raises(UsageError):
            pace_for(channel, **kw)


def test_next_send_waits_for_spacing_then_the_hourly_then_the_daily_window():
    pace = Pace(per_day=3, per_hour=2, min_interval=60.0)
    ceiling = Pace(per_day=20, per_hour=10, min_interval=60.0)
    empty = Budget([], [])
    assert next_send_at(pace, ceiling, empty, T, 90.0) == (T, "")
    one = [T]
    at, why = next_send_at(pace, ceiling, Budget(one, one), T + dt.timedelta(seconds=10), 90.0)
    assert at == T + dt.timedelta(seconds=90) and why == "spacing"
    two = [T, T + dt.timedelta(minutes=2)]
    at, why = next_send_at(pace, ceiling, Budget(two, two), T + dt.timedelta(minutes=5), 90.0)
    assert at == T + dt.timedelta(hours=1) and why == "hourly cap of 2"
    three = [T, T + dt.timedelta(minutes=2), T + dt.timedelta(hours=2)]
    at, why = next_send_at(pace, ceiling, Budget(three, three), T + dt.timedelta(hours=3), 90.0)
    assert at == T + dt.timedelta(days=1) and why == "daily cap of 3"
    # the shared budget of the account counts other campaigns' sends too
    others = [T + dt.timedelta(minutes=i) for i in range(20)]
    at, why = next_send_at(pace, ceiling, Budget([], others), T + dt.timedelta(hours=2), 90.0)
    assert at == T + dt.timedelta(days=1) and why == "shared daily budget of 20"


def test_jitter_lies_between_one_and_one_and_a_half_minimums():
    pace = Pace(20, 10, 100.0)
    assert gap(pace, Clock(random=lambda: 0.0)) == 100.0
    assert gap(pace, Clock(random=lambda: 0.999)) == pytest.approx(149.95)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(CHANNEL_PACE)), st.integers(1, 200))
def test_a_simulated_schedule_never_exceeds_a_budget(channel, count):
    ceiling = CHANNEL_PACE[channel]
    times = schedule(ceiling, ceiling, Budget([], []), T, count)
    for i, t in enumerate(times):
        window = [u for u in times if t <= u < t + dt.timedelta(days=1)]
        assert len(window) <= ceiling.per_day
        assert len([u for u in times if t <= u < t + dt.timedelta(hours=1)]) <= ceiling.per_hour
        if i:
            assert (t - times[i - 1]).total_seconds() >= ceiling.min_interval
