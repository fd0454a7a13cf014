"""Owners' requests on the web site (``POST /optout``): opt a network out of
the service for good, or have it forgotten because it moved, proving presence
with a scan of the networks seen beside it.

The host knows no radio: a station updater that sets ``OWNER_REQUESTS``
answers for its networks (:meth:`StationUpdater.owner_request`; the station
kit implements it for MAC radios), and the radio's report fragment reads the
scan as it reads a geolocate body. Requests are limited per client address
(``ICHNAEA_OPTOUT_LIMIT`` an hour, counted under a keyed hash of the address);
the log line names the network by its first half only.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ichnaea_host.api.errors import APIError, ParseError, RateLimitExceeded
from ichnaea_host.api.limits import hashed_ip
from ichnaea_host.core.log import get_logger
from ichnaea_host.core.plugin_classes import OwnerRequestRefused
from ichnaea_host.core.queues import REDIS_ERRORS
from ichnaea_host.plugins.runtime import Runtime

log = get_logger("ichnaea.site.owner")

ACTIONS = {"optout": "opted out", "moved": "reset"}
WINDOW = 3600


@dataclass
class OwnerRequest:
    radio: str
    network: str
    action: str
    scan: dict[str, Any]


def read_request(form: dict[str, Any] | None, body: Any) -> OwnerRequest:
    """The request of a form (``network``, ``action``, ``scan`` as JSON text)
    or of a JSON body (``network``, ``action`` and the scan's lists beside
    them, as in a geolocate body); ParseError for anything else."""
    if form is not None:
        try:
            scan = json.loads(form.get("scan") or "")
        except ValueError:
            raise ParseError({"optout": "the scan is not JSON: paste the body of a "
                                        "geolocate request"}) from None
        fields: dict[str, Any] = dict(form)
    else:
        scan, fields = body, body
    if not isinstance(scan, dict) or not isinstance(fields, dict):
        raise ParseError({"optout": "expected a JSON object"})
    network, action = fields.get("network"), fields.get("action")
    radio = fields.get("radio") or "wifi"
    if not isinstance(network, str) or not network.strip():
        raise ParseError({"optout": "name the network (its BSSID, aa:bb:cc:dd:ee:ff)"})
    if action not in ACTIONS:
        raise ParseError({"optout": "the action is optout or moved"})
    if not isinstance(radio, str):
        raise ParseError({"optout": "the radio is a name, such as wifi"})
    return OwnerRequest(radio, network.strip(), action, scan)


def _limited(rt: Runtime, ip: str | None) -> int | None:
    """Seconds until the window ends when this address has asked too often."""
    limit = rt.settings.optout_limit
    if not limit or not ip:
        return None
    now = time.time()
    slot = int(now // WINDOW)
    name = f"optoutlimit:{hashed_ip(ip, rt.settings.secret_key)}:{slot}"
    try:
        with rt.redis.pipeline(transaction=False) as pipe:
            pipe.incr(name)
            pipe.expire(name, WINDOW * 2)
            count = int(pipe.execute()[0])
    except REDIS_ERRORS as exc:
        log.warning("optout_limit_unavailable", error=type(exc).__name__)
        return None
    return max(int((slot + 1) * WINDOW - now), 1) if count > limit else None


def carry_out(rt: Runtime, fragments: list[Any], ip: str | None,
              request: OwnerRequest) -> str:
    """Check and carry out one request; return what was done (``opted_out``,
    ``reset``) or raise the API error to answer."""
    updater = next((rt.station_updater(name) for name, cls in
                    rt.plugins.station_updaters().items()
                    if cls.OWNER_REQUESTS and cls.PLUGIN_NAME == request.radio), None)
    fragment = next((f for f in fragments if f.PLUGIN_NAME == request.radio), None)
    if updater is None or fragment is None:
        raise ParseError({"optout": f"no owner requests for {request.radio[:20]!r} networks"})
    retry_after = _limited(rt, ip)
    if retry_after is not None:
        log.info("owner_request", radio=request.radio, action=request.action,
                 result="rate_limited")
        raise RateLimitExceeded(retry_after)
    entries = request.scan.get(fragment.FIELD)
    if not isinstance(entries, list):
        raise ParseError({"optout": f"the scan has no {fragment.FIELD} list"})
    lookups = fragment.parse_query([e for e in entries if isinstance(e, dict)], request.scan)
    shown = request.network[:8] + "..."  # the vendor's half of a MAC address
    try:
        result = str(updater.owner_request(request.network, request.action, lookups))
    except OwnerRequestRefused as exc:
        log.info("owner_request", radio=request.radio, action=request.action,
                 network=shown, result="refused", reason=str(exc))
        raise ParseError({"optout": str(exc)}) from None
    log.info("owner_request", radio=request.radio, action=request.action, network=shown,
             result=result)
    return result


def describe(error: APIError) -> str:
    """What the page says for an error."""
    if isinstance(error, RateLimitExceeded):
        return "Too many requests from your address; please try again in an hour."
    details = error.details or {}
    return str(details.get("optout") or error.message)
