"""X-Forwarded-For is believed only from the configured proxies (`[server] trusted_proxies`): the source a
request is rate-limited and audited as is the sender behind a trusted proxy, and the peer itself otherwise."""

from __future__ import annotations

import dataclasses
from ipaddress import ip_network
from pathlib import Path

import orjson
import pytest

from basso.config import ConfigError, load_config
from tests.web.conftest import Webhook
from tests.web.test_webhook import payload


def trust(webhook: Webhook, *networks: str) -> None:
    config = webhook.services.config
    server = dataclasses.replace(config.server, trusted_proxies=tuple(ip_network(n) for n in networks))
    webhook.services.config = dataclasses.replace(config, server=server)


async def audited_source(webhook: Webhook, forwarded: str, signal_id: str) -> str:
    status, _ = await webhook.post(orjson.dumps(payload(signal_id=signal_id)), {"X-Forwarded-For": forwarded})
    assert status == 200
    return str(await webhook.services.pool.fetchval("SELECT source FROM webhook_audit ORDER BY id DESC LIMIT 1"))


async def test_the_loopback_proxy_is_trusted_by_default(webhook: Webhook) -> None:
    # The test client connects from 127.0.0.1, which the shipped defaults trust.
    assert await audited_source(webhook, "203.0.113.7", "a") == "203.0.113.7"


async def test_a_peer_that_is_not_a_trusted_proxy_is_the_source_whatever_it_forwards(webhook: Webhook) -> None:
    trust(webhook, "10.0.0.5")  # the proxy is remote now; 127.0.0.1 is just a sender
    assert await audited_source(webhook, "203.0.113.7", "a") == "127.0.0.1"


async def test_the_source_is_the_nearest_hop_that_is_not_a_trusted_proxy(webhook: Webhook) -> None:
    # A sender may write anything at the left of the header; each proxy appends the address it saw.
    assert await audited_source(webhook, "1.2.3.4, 203.0.113.7", "a") == "203.0.113.7"
    trust(webhook, "127.0.0.1", "203.0.113.0/24")  # two proxies in a row: the inner one is trusted too
    assert await audited_source(webhook, "1.2.3.4, 198.51.100.9, 203.0.113.7", "b") == "198.51.100.9"
    assert await audited_source(webhook, "not-an-address, 203.0.113.7", "c") == "not-an-address"


async def test_senders_behind_a_trusted_proxy_have_a_bucket_each(webhook: Webhook) -> None:
    webhook.services.limiter.per_minute = 1
    first, second = ({"X-Forwarded-For": "203.0.113.7"}, {"X-Forwarded-For": "198.51.100.9"})
    assert (await webhook.post(orjson.dumps(payload(signal_id="a")), first))[0] == 200
    assert (await webhook.post(orjson.dumps(payload(signal_id="b")), second))[0] == 200  # its own bucket
    assert (await webhook.post(orjson.dumps(payload(signal_id="c")), first))[0] == 429  # one a minute


def test_trusted_proxies_are_read_from_the_file_and_refused_when_not_addresses(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[server]\ntrusted_proxies = ["10.0.0.5", "10.1.0.0/16"]\n')
    assert load_config(good).server.trusted_proxies == (ip_network("10.0.0.5/32"), ip_network("10.1.0.0/16"))
    bad = tmp_path / "bad.toml"
    bad.write_text('[server]\ntrusted_proxies = ["proxy.internal"]\n')
    with pytest.raises(ConfigError, match=r"server\.trusted_proxies: not an address or network"):
        load_config(bad)
