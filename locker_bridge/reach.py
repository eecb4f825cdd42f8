"""One bridge's word on an unreachable CSMS, shared by its bays."""

from __future__ import annotations

import logging

from common.ratelimit import Throttle

log = logging.getLogger("locker_bridge.charge_point")


class CsmsReach:
    """One bridge's word on an unreachable CSMS, whichever bay failed to connect (twelve bays
    must not write twelve lines): throttled, and a bay that connects ends the outage."""

    def __init__(self) -> None:
        self._throttle = Throttle()
        self._failures = 0

    def failed(self, url: str, exc: BaseException) -> None:
        self._failures += 1
        log.log(self._throttle.level(), "cannot reach the CSMS at %s (%s); %d failed connection(s)"
                " so far, the bays keep trying", url, exc, self._failures)

    def connected(self) -> None:
        if self._failures:
            log.info("the CSMS is reachable again after %d failed connection(s)", self._failures)
        self._failures = 0
        self._throttle.reset()
