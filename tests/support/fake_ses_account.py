"""SES v2's account reads, as the scripted SES (tests/support/fake_ses.py) answers them:
GetAccount with every field the console reads (moto's sesv2 has no GetAccount),
ListEmailIdentities, GetConfigurationSet and GetConfigurationSetEventDestinations (moto
keeps no event destinations), and what ``mailpipe ses setup`` writes:
CreateConfigurationSet, Create/UpdateConfigurationSetEventDestination; and the account's
suppression list (ListSuppressedDestinations, by LastUpdateTime, in pages). Shapes and
errors as SES documents them: a missing set is 404 NotFoundException, an existing one
409 AlreadyExistsException; an operation in ``refused`` gets the error scripted for it
(``refuse``: access denied by default, or throttling, …).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import parse_qs, unquote, urlsplit

#: The SNS topic the healthy account's event destination publishes to.
TOPIC = "arn:aws:sns:us-east-1:123456789012:mailpipe-events"
EVERY_TYPE = ["SEND", "REJECT", "BOUNCE", "COMPLAINT", "DELIVERY", "DELIVERY_DELAY",
              "RENDERING_FAILURE"]


def _account(production: bool) -> dict:
    return {
        "SendingEnabled": True, "ProductionAccessEnabled": production,
        "EnforcementStatus": "HEALTHY", "DedicatedIpAutoWarmupEnabled": False,
        "SendQuota": ({"MaxSendRate": 14.0, "Max24HourSend": 50000.0, "SentLast24Hours": 0.0}
                      if production else
                      {"MaxSendRate": 1.0, "Max24HourSend": 200.0, "SentLast24Hours": 40.0}),
    }


@dataclass
class AccountReads:
    """What the account reads answer; tests change the fields."""

    account: dict = field(default_factory=lambda: {"SendingEnabled": True, "SendQuota": {
        "MaxSendRate": 14.0, "Max24HourSend": 50000.0, "SentLast24Hours": 0.0}})
    #: ListEmailIdentities' EmailIdentities.
    identities: list[dict] = field(default_factory=list)
    #: Configuration set name → its GetConfigurationSet answer plus "EventDestinations".
    configuration_sets: dict[str, dict] = field(default_factory=dict)
    #: Operation → (HTTP status, error code, message) it is answered with instead.
    refused: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    #: Every account read answered, by operation name.
    calls: list[str] = field(default_factory=list)
    #: ListSuppressedDestinations' entries: EmailAddress, Reason, LastUpdateTime (epoch s).
    suppressed: list[dict] = field(default_factory=list)
    #: ListSuppressedDestinations' largest page, whatever the request asks for.
    suppressed_page: int = 1000

    def production(self, configuration_set: str = "mailpipe",
                   domain: str = "example.com") -> AccountReads:
        """Out of the sandbox, healthy, ``domain`` verified, the set with its SNS destination."""
        self.account = _account(True)
        self.identities = [{"IdentityType": "DOMAIN", "IdentityName": domain,
                            "SendingEnabled": True, "VerificationStatus": "SUCCESS"}]
        self.configuration_sets = {configuration_set: {
            "SendingOptions": {"SendingEnabled": True},
            "EventDestinations": [{"Name": "to-mailpipe", "Enabled": True,
                                   "MatchingEventTypes": EVERY_TYPE,
                                   "SnsDestination": {"TopicArn": TOPIC}}]}}
        return self

    def sandbox(self, configuration_set: str = "mailpipe") -> AccountReads:
        """A new account: in the sandbox, only one address verified, the set without
        any event destination."""
        self.account = _account(False)
        self.identities = [{"IdentityType": "EMAIL_ADDRESS", "IdentityName": "me@elsewhere.example",
                            "SendingEnabled": True, "VerificationStatus": "SUCCESS"}]
        self.configuration_sets = {configuration_set: {
            "SendingOptions": {"SendingEnabled": True}, "EventDestinations": []}}
        return self

    def refuse(self, operation: str, status: int = 403, code: str = "AccessDeniedException",
               message: str | None = None) -> None:
        """Answer ``operation`` with this error from now on (403 access denied by default)."""
        self.refused[operation] = (status, code, message or (
            "User: arn:aws:iam::123456789012:user/mailpipe is not authorized to perform: "
            f"ses:{operation}"))

    def answer(self, method: str, path: str, body: bytes = b""
               ) -> tuple[int, dict, str | None] | None:
        """(status, body, error code) for an account read or a setup write; None for any
        other request."""
        parts = [unquote(p) for p in urlsplit(path).path.split("/") if p]
        if parts[:2] != ["v2", "email"]:
            return None
        route = parts[2:]
        if method == "GET" and route == ["account"]:
            return self._answer("GetAccount", lambda: self.account)
        if method == "POST" and route == ["list-identities"]:
            return self._answer("ListEmailIdentities",
                                lambda: {"EmailIdentities": self.identities})
        if method == "GET" and route == ["suppression", "addresses"]:
            query = parse_qs(urlsplit(path).query)
            return self._answer("ListSuppressedDestinations", lambda: self._suppressed(query))
        if route[:1] == ["configuration-sets"]:
            return self._configuration_sets(method, route[1:], json.loads(body or b"{}"))
        return None

    def _configuration_sets(self, method: str, route: list[str], body: dict):
        if method == "POST" and not route:
            name = body.get("ConfigurationSetName", "")
            return self._answer("CreateConfigurationSet", lambda: self._create_set(name))
        name = route[0] if route else ""
        if method == "GET" and route[1:] == ["event-destinations"]:
            return self._answer("GetConfigurationSetEventDestinations",
                                lambda: self._set(name, destinations=True))
        if method == "GET" and len(route) == 1:
            return self._answer("GetConfigurationSet", lambda: self._set(name))
        if method == "POST" and route[1:] == ["event-destinations"]:
            return self._answer("CreateConfigurationSetEventDestination",
                                lambda: self._put_destination(name, body, creating=True))
        if method == "PUT" and len(route) == 3 and route[1] == "event-destinations":
            body = {**body, "EventDestinationName": route[2]}
            return self._answer("UpdateConfigurationSetEventDestination",
                                lambda: self._put_destination(name, body, creating=False))
        return None

    def _create_set(self, name: str):
        if name in self.configuration_sets:
            return 409, "AlreadyExistsException", f"Configuration set <{name}> already exists."
        self.configuration_sets[name] = {"SendingOptions": {"SendingEnabled": True},
                                         "EventDestinations": []}
        return {}

    def _put_destination(self, name: str, body: dict, *, creating: bool):
        found = self.configuration_sets.get(name)
        if found is None:
            return None
        destinations = found.setdefault("EventDestinations", [])
        wanted = body["EventDestinationName"]
        existing = [d for d in destinations if d["Name"] == wanted]
        if creating and existing:
            return 409, "AlreadyExistsException", f"Event destination {wanted} already exists."
        if not creating and not existing:
            return 404, "NotFoundException", f"Event destination {wanted} does not exist."
        destinations[:] = [d for d in destinations if d["Name"] != wanted]
        destinations.append({"Name": wanted, **body["EventDestination"]})
        return {}

    def _suppressed(self, query: dict[str, list[str]]) -> dict:
        """One page in LastUpdateTime order after StartDate; NextToken: the offset."""
        start = datetime.fromisoformat(query["StartDate"][0]).timestamp() if (
            "StartDate" in query) else float("-inf")
        size = min(int(query.get("PageSize", [self.suppressed_page])[0]), self.suppressed_page)
        offset = int(query.get("NextToken", ["0"])[0])
        matching = sorted((e for e in self.suppressed if e["LastUpdateTime"] >= start),
                          key=lambda e: e["LastUpdateTime"])
        page = matching[offset:offset + size]
        answer = {"SuppressedDestinationSummaries": page}
        if offset + size < len(matching):
            answer["NextToken"] = str(offset + size)
        return answer

    def _set(self, name: str, destinations: bool = False) -> dict | None:
        found = self.configuration_sets.get(name)
        if found is None:
            return None
        if destinations:
            return {"EventDestinations": found.get("EventDestinations", [])}
        return {"ConfigurationSetName": name,
                **{k: v for k, v in found.items() if k != "EventDestinations"}}

    def _answer(self, operation: str, body) -> tuple[int, dict, str | None]:
        self.calls.append(operation)
        if operation in self.refused:
            status, code, message = self.refused[operation]
            return status, {"message": message}, code
        payload = body()
        if payload is None:
            return 404, {"message": "Configuration set does not exist."}, "NotFoundException"
        if isinstance(payload, tuple):  # (status, error code, message)
            return payload[0], {"message": payload[2]}, payload[1]
        return 200, json.loads(json.dumps(payload)), None
