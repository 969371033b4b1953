"""Signatures, TwiML and stream tokens."""

import pytest

from bot.twilio.signing import StreamTokens, TokenError, signature_ok
from bot.twilio.twiml import connect_twiml, hangup_twiml
from tests.fakes.signing import twilio_signature


def test_signature_matches_the_url_and_params() -> None:
    url = "https://bot.example.com/twilio/voice"
    params = {"CallSid": "CA1", "From": "+14155550100"}
    sig = twilio_signature("secret-token", url, params)
    assert signature_ok("secret-token", url, params, sig)
    assert not signature_ok("other-token", url, params, sig)
    assert not signature_ok("secret-token", url, {**params, "From": "+1999"}, sig)
    assert not signature_ok("secret-token", url + "x", params, sig)
    assert not signature_ok("secret-token", url, params, "")


def test_connect_twiml_carries_stream_url_token_and_action() -> None:
    xml = connect_twiml(
        stream_url="wss://h/twilio/media",
        token="tok",
        action_url="https://h/a",
        status_url="https://h/s",
    )
    assert '<Connect action="https://h/a" method="POST">' in xml
    assert (
        '<Stream statusCallback="https://h/s" statusCallbackMethod="POST" '
        'url="wss://h/twilio/media">' in xml
    )
    assert '<Parameter name="token" value="tok" />' in xml


def test_hangup_twiml() -> None:
    assert hangup_twiml().endswith("<Response><Hangup /></Response>")
    assert "<Say>Sorry.</Say><Hangup />" in hangup_twiml("Sorry.")


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


async def test_tokens_are_single_use_bound_to_the_call_and_expire() -> None:
    clock = Clock()
    tokens = StreamTokens("secret", ttl_s=60, clock=clock)
    t = tokens.mint("CA1")
    with pytest.raises(TokenError, match="does not match this CallSid"):
        await tokens.redeem(t, "CA2")
    await tokens.redeem(t, "CA1")
    with pytest.raises(TokenError, match="already used"):
        await tokens.redeem(t, "CA1")
    late = tokens.mint("CA3")
    clock.t += 61
    with pytest.raises(TokenError, match="expired"):
        await tokens.redeem(late, "CA3")
    for bad in ("", "abc", "1.2", "x.y.z"):
        with pytest.raises(TokenError, match="malformed"):
            await tokens.redeem(bad, "CA1")


async def test_a_token_from_another_replica_with_the_same_secret_is_accepted() -> None:
    t = StreamTokens("shared").mint("CA1")
    await StreamTokens("shared").redeem(t, "CA1")
    with pytest.raises(TokenError):
        await StreamTokens("different").redeem(StreamTokens("shared").mint("CA1"), "CA1")
