"""`[dashboard]` and `[notifications]` in the configuration: the shipped defaults, and mistakes refused with the
key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from basso.config import NOTIFICATION_EVENTS, ConfigError, load_config


def test_by_default_every_event_is_on_and_nothing_is_sent_anywhere() -> None:
    config = load_config()
    assert config.notifications.urls == ()
    assert dict(config.notifications.events) == dict.fromkeys(NOTIFICATION_EVENTS, "on")
    assert (
        config.notifications.timeout_s,
        config.notifications.retry_first_s,
        config.notifications.retry_max_s,
        config.notifications.max_attempts,
    ) == (10.0, 5.0, 600.0, 10)
    assert (config.dashboard.poll_s, config.dashboard.bar_stale_s) == (1.0, 3600.0)


def test_a_user_file_chooses_urls_and_per_event_modes(tmp_path: Path) -> None:
    path = tmp_path / "basso.toml"
    path.write_text(
        '[notifications]\nurls = ["tgram://1:abc/2"]\n[notifications.events]\npeel_off = "silent"\nalert = "off"\n'
    )
    config = load_config(path)
    assert config.notifications.urls == ("tgram://1:abc/2",)
    assert config.notifications.events["peel_off"] == "silent"
    assert config.notifications.events["alert"] == "off"
    assert config.notifications.events["stop_hit"] == "on"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[notifications.events]\nstop_hit = "loud"\n',
            r"notifications\.events\.stop_hit: must be one of on, silent, off",
        ),
        ('[notifications.events]\nstop_hot = "on"\n', r"stop_hot"),
        ('[notifications]\nurls = "tgram://1:abc/2"\n', r"notifications\.urls: must be a list of apprise URLs"),
        ("[notifications]\nurls = [1]\n", r"notifications\.urls"),
        ("[notifications]\ntimeout_s = 0\n", r"notifications\.timeout_s: must be greater than 0"),
        ("[notifications]\nmax_attempts = 0\n", r"notifications\.max_attempts: must be at least 1"),
        ("[dashboard]\npoll_s = -1\n", r"dashboard\.poll_s: must be greater than 0"),
        ("[dashboard]\nrefresh = 1\n", r"refresh"),
    ],
)
def test_a_mistake_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "basso.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)
