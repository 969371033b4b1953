"""Fake Twilio REST API (Calls create and update, HTTP basic auth) on 127.0.0.1, written from
docs/twilio.md; afterwards it plays Twilio's part: signed status callbacks, AMD results and the
voice webhook, in any order the test asks for.

Also the Account (fetch) and IncomingPhoneNumbers (read with a PhoneNumber filter, update)
resources, from Twilio's API reference (twilio.com/docs/iam/api/account,
twilio.com/docs/phone-numbers/api/incomingphonenumber-resource): JSON property names in
snake_case, form parameters in PascalCase, list pages with Twilio's paging fields.

Split into the server (routes, controls, serving), callbacks (Twilio's part afterwards) and
resources (calls, numbers, errors)."""

from .resources import API, E164, NUMBER_FIELDS, STATUS_EVENTS, Failure, FakeCall, FakeNumber
from .server import FakeTwilioRest

__all__ = [
    "API",
    "E164",
    "NUMBER_FIELDS",
    "STATUS_EVENTS",
    "Failure",
    "FakeCall",
    "FakeNumber",
    "FakeTwilioRest",
]
