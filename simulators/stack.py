"""All portal simulators at once, seeded with the store's orders: the demo, tests, benchmarks.

`PortalStack` serves each simulator over real HTTP on loopback and says how to reach them:
`accounts_toml()` for the accounts file and `environment()` for the credentials, exactly as an
operator would configure the real portals.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from simulators import amazon, ebay, hood, kaufland, otto, profiles, rakuten
from simulators.profiles import Profile
from simulators.server import serve_in_thread

KAUFLAND_CLIENT_KEY = "sim-kaufland-client"
KAUFLAND_SECRET = "sim-kaufland-secret"  # noqa: S105 - the simulator's own test value
HOOD_PASSWORD = "sim-hood-password"  # noqa: S105 - the simulator's own test value
RAKUTEN_KEY = "sim-rakuten-key"
AMAZON_MERCHANT = "A2SIMULATORSELLER"
OTTO_CLIENT_ID = "sim-otto-client"
OTTO_CLIENT_SECRET = "sim-otto-secret"  # noqa: S105 - the simulator's own test value


@dataclass(frozen=True)
class PortalOrder:
    portal: str
    account: str
    portal_order_id: str
    items: dict[str, int] = field(default_factory=dict)  # item id -> quantity


@dataclass
class PortalStack:
    amazon_processing_seconds: float = 0.5
    throttle: bool = False
    # `zero`: answers at once, no limits; `realistic`: latency per call and the documented
    # rate limits per seller account (simulators/profiles.py), paced by the connectors
    profile: Profile = field(default_factory=Profile)
    urls: dict[str, str] = field(default_factory=dict)
    apps: dict[str, Any] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)  # account -> portal
    _amazon_orders: dict[str, dict[str, int]] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)

    def __enter__(self) -> PortalStack:
        self.apps = {
            "amazon": amazon.create_app(
                processing_seconds=self.amazon_processing_seconds,
                known_orders=lambda order_id: order_id in self._amazon_orders,
                ordered_items=lambda order_id: self._amazon_orders.get(order_id),
                throttle=self.throttle,
            ),
            "ebay": ebay.create_app(rate_per_second=None if not self.throttle else 5.0),
            "kaufland": kaufland.create_app(
                KAUFLAND_CLIENT_KEY,
                KAUFLAND_SECRET,
                rate_per_second=111.0 if self.throttle else None,
            ),
            "hood": hood.create_app({}),
            "rakuten": rakuten.create_app(RAKUTEN_KEY),
            "otto": otto.create_app(
                OTTO_CLIENT_ID, OTTO_CLIENT_SECRET, rate_per_second=5.0 if self.throttle else None
            ),
        }
        amazon_sim = self.apps["amazon"].state.sim
        account_of: dict[str, profiles.AccountOf] = {
            "amazon": lambda headers, body, query: amazon_sim.token_owners.get(
                headers.get("x-amz-access-token", ""), ""
            ),
            "ebay": profiles.one_application,
            "kaufland": profiles.by_header("shop-client-key"),
            "hood": profiles.hood_account,
            "rakuten": profiles.rakuten_shop,
            "otto": profiles.one_application,  # no documented figures: latency only
        }
        for portal, app in self.apps.items():
            served = self.profile.wrap(portal, app, account_of[portal])
            self.urls[portal] = self._stack.enter_context(serve_in_thread(served))
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def seed(self, orders: Iterable[PortalOrder]) -> None:
        ebay_sim = ebay.simulator(self.apps["ebay"])
        kaufland_sim = kaufland.simulator(self.apps["kaufland"])
        hood_sim = hood.simulator_of(self.apps["hood"])
        rakuten_sim = rakuten.simulator_of(self.apps["rakuten"])
        otto_sim = otto.simulator(self.apps["otto"])
        for order in orders:
            self.accounts.setdefault(order.account, order.portal)
            if order.portal == "amazon":
                self.apps["amazon"].state.sim.refresh_tokens.add(
                    self.amazon_refresh_token(order.account)
                )
                self._amazon_orders[order.portal_order_id] = dict(order.items)
            elif order.portal == "ebay":
                ebay_sim.add_order(order.portal_order_id, order.items)
            elif order.portal == "kaufland":
                for unit_id in order.items:
                    kaufland_sim.add_order_unit(int(unit_id), order.portal_order_id)
            elif order.portal == "hood":
                hood_sim.accounts[self.hood_user(order.account)] = HOOD_PASSWORD
                hood_sim.seed(order.portal_order_id, self.hood_user(order.account))
            elif order.portal == "rakuten":
                rakuten_sim.seed(order.portal_order_id)
            elif order.portal == "otto":
                otto_sim.add_order(order.portal_order_id, list(order.items))

    @staticmethod
    def hood_user(account: str) -> str:
        return f"{account}-user"

    @staticmethod
    def amazon_refresh_token(account: str) -> str:
        """One refresh token per Amazon account: Amazon meters per seller account."""
        return f"{amazon.DEFAULT_REFRESH_TOKEN}-{account}"

    def accounts_toml(self, *, rakuten: bool = True) -> str:
        """Accounts pointing at the simulators (`simulator = true` relaxes client limits; not
        in the realistic profile, where the connectors keep the portals' own pace)."""
        lines: list[str] = []
        relaxed = "false" if self.profile.limits else "true"
        for account, portal in sorted(self.accounts.items()):
            lines += [f'[accounts."{account}"]', f'portal = "{portal}"', f"simulator = {relaxed}"]
            if portal == "amazon":
                lines += [
                    f'merchant_id = "{AMAZON_MERCHANT}"',
                    'marketplace = "DE"',
                    f'base_url = "{self.urls["amazon"]}"',
                    f'token_url = "{self.urls["amazon"]}/auth/o2/token"',
                ]
            elif portal == "hood":
                lines.append(f'base_url = "{self.urls["hood"]}{hood.API_PATH}"')
            elif portal == "rakuten":
                lines.append(f'base_url = "{self.urls["rakuten"]}/merchants/"')
                lines.append(f"confirm = {'true' if rakuten else 'false'}")
            elif portal == "ebay":
                lines.append(f'base_url = "{self.urls[portal]}"')
            elif portal == "kaufland":
                lines.append(f'base_url = "{self.urls[portal]}/v2"')
            elif portal == "otto":
                lines.append(f'base_url = "{self.urls[portal]}"')
                lines += ['ship_from_city = "Hamburg"', 'ship_from_zip = "22179"']
            lines.append("")
        return "\n".join(lines)

    def environment(self) -> dict[str, str]:
        """Credentials as environment variables, named as connectors/credentials.py reads them."""
        from connectors.credentials import env_name

        values: dict[str, str] = {}
        for account, portal in self.accounts.items():
            fields = self._credentials(portal, account)
            for name, value in fields.items():
                values[env_name(portal, account, name)] = value
        return values

    def _credentials(self, portal: str, account: str) -> dict[str, str]:
        if portal == "amazon":
            return {
                "client_id": amazon.DEFAULT_CLIENT_ID,
                "client_secret": amazon.DEFAULT_CLIENT_SECRET,
                "refresh_token": self.amazon_refresh_token(account),
            }
        if portal == "ebay":
            sim = ebay.simulator(self.apps["ebay"])
            return {
                "client_id": sim.client_id,
                "client_secret": sim.client_secret,
                "refresh_token": sim.refresh_token,
            }
        if portal == "kaufland":
            return {"client_key": KAUFLAND_CLIENT_KEY, "secret_key": KAUFLAND_SECRET}
        if portal == "hood":
            return {"account_name": self.hood_user(account), "api_password": HOOD_PASSWORD}
        if portal == "rakuten":
            return {"key": RAKUTEN_KEY}
        if portal == "otto":
            return {"client_id": OTTO_CLIENT_ID, "client_secret": OTTO_CLIENT_SECRET}
        return {}


def portal_orders_from_store(db_url: str) -> Iterator[PortalOrder]:
    """Every order of the store as the portals know it."""
    from sqlalchemy import select
    from sqlalchemy.orm import selectinload

    from db.models import Order
    from db.session import session_scope

    with session_scope(db_url) as session:
        statement = select(Order).where(Order.portal != "shop").options(selectinload(Order.items))
        for order in session.scalars(statement):
            yield PortalOrder(
                order.portal,
                order.portal_account,
                order.portal_order_id,
                {i.item_id: i.quantity for i in order.items},
            )
