"""``apply_acls`` returns only once the broker answers with the policy's grants (a stand-in admin plays a broker
that reads the controller's change back a few answers late)."""

from __future__ import annotations

from typing import Any

import pytest

from borderbus import acls
from borderbus.access import AccessPolicy
from borderbus.bus import Bus


class LaggingAdmin:
    """Creates and deletes at once, as the controller does, but after a change describes the old ACLs ``lag`` more times."""

    def __init__(self, bindings: list[Any], lag: int) -> None:
        self.enforced, self.committed, self.lag, self.describes = list(bindings), list(bindings), lag, 0
        self.countdown = 0

    def _settled(self, value: Any) -> Any:
        class Done:
            def result(self) -> Any:
                return value

        return Done()

    def describe_acls(self, _filter: Any, request_timeout: float) -> Any:
        self.describes += 1
        if self.countdown:
            self.countdown -= 1
        else:
            self.enforced = list(self.committed)
        return self._settled(list(self.enforced))

    def create_acls(self, bindings: list[Any], request_timeout: float) -> dict[Any, Any]:
        self.committed += bindings
        self.countdown = self.lag
        return {binding: self._settled(None) for binding in bindings}

    def delete_acls(self, filters: list[Any], request_timeout: float) -> dict[Any, Any]:
        names = {(f.name, f.principal, f.operation) for f in filters}
        self.committed = [b for b in self.committed if (b.name, b.principal, b.operation) not in names]
        self.countdown = self.lag
        return {f: self._settled(None) for f in filters}


def test_applying_acls_waits_until_the_broker_enforces_them(offline_bus: Bus) -> None:
    policy = AccessPolicy(offline_bus.catalogue)
    admin = LaggingAdmin([], lag=4)
    changes = acls.apply_acls(admin, policy)  # type: ignore[arg-type]
    assert len(changes) == len(policy.grants)
    assert admin.describes == 1 + 4 + 1  # what was there; four answers still without them; then all of them
    assert {acls._grant(binding) for binding in admin.enforced} == policy.grants


def test_a_broker_that_never_enforces_them_is_reported(offline_bus: Bus, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = AccessPolicy(offline_bus.catalogue)
    admin = LaggingAdmin([], lag=10**9)
    monkeypatch.setattr(acls.time, "sleep", lambda _seconds: None)
    with pytest.raises(TimeoutError, match=f"{len(policy.grants)} grant\\(s\\) too few and 0 too many"):
        acls.wait_until_enforced(admin, policy, timeout=0.05)  # type: ignore[arg-type]


def test_nothing_to_change_asks_the_broker_once(offline_bus: Bus) -> None:
    policy = AccessPolicy(offline_bus.catalogue)
    admin = LaggingAdmin([acls._binding(grant) for grant in policy.grants], lag=0)
    assert acls.apply_acls(admin, policy) == []  # type: ignore[arg-type]
    assert admin.describes == 1
