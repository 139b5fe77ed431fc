"""Simulated customers: orders arriving at random (a Poisson process at ``--rate`` per minute),
each quoted, booked and paid (cash, or a card through the payments sandbox), and once
delivered, rated and (sometimes) tipped."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from logistics.demo.board import CANCELLED, OFFERED, PAYING, SEARCHING, money
from logistics.demo.city import TEST_CARD, City
from logistics.demo.client import User
from logistics.demo.world import items, person, phone, stop

# Stars as customers give them: mostly happy.
STARS = [5, 4, 3, 2, 1]
STARS_WEIGHTS = [62, 24, 9, 3, 2]
COMMENTS = {
    5: ["Super fast, thank you!", "Friendly and careful", None, None],
    4: ["All good", "A bit late but fine", None],
    3: ["Took a while", None],
    2: ["Box was dented", None],
    1: ["Left at the wrong door", None],
}
TIP_SHARE = 0.5  # of the happy (4 and 5 star) customers
TIPS = [100, 150, 200, 300, 500]  # minor units
# Real seconds between the delivery and the customer opening the app to rate it.
RATE_AFTER_S = (0.5, 2.0)


@dataclass
class Plan:
    """Everything random about one order, drawn when it arrives (in arrival order), so that
    under a seed the n-th order is the same whatever the server answered before it."""

    number: int
    customer: User
    pickup: dict[str, Any]
    dropoff: dict[str, Any]
    items: list[dict[str, Any]]
    card: bool
    stars: int
    comment: str | None
    tip: int | None  # drawn now, given only for 4 or 5 stars (and a card to pay it with)
    rate_after_s: float


class Customers:
    def __init__(self, city: City) -> None:
        self.city = city
        self.rng = city.rng("orders")
        self.users = []
        for i in range(city.options.customers):
            rng = city.rng("customer", i)
            user = User(city.sub("customer", i), person(rng), phone(rng, city.region.country))
            self.users.append(user.mint(city.settings))
        self.plans: dict[str, Plan] = {}  # order id -> its plan
        self.count = 0
        self.tipped = False
        city.on_delivered = self.delivered

    async def arrivals(self) -> None:
        """Poisson arrivals: exponential gaps with a mean of 60 / rate seconds. Each order is
        placed in a task of its own, so a slow answer never delays the next arrival."""
        while True:
            await asyncio.sleep(self.rng.expovariate(self.city.options.rate / 60))
            self.count += 1
            self.city.spawn(self.place(self.plan(self.count)))

    def plan(self, number: int) -> Plan:
        rng, city = self.rng, self.city
        pickup, dropoff = city.area.trip(rng)
        stars = rng.choices(STARS, weights=STARS_WEIGHTS)[0]
        return Plan(
            number=number,
            customer=rng.choice(self.users),
            pickup=stop(rng, city.region, pickup),
            dropoff=stop(rng, city.region, dropoff),
            items=items(rng),
            card=rng.random() < city.options.card_share,
            stars=stars,
            comment=rng.choice(COMMENTS[stars]),
            tip=rng.choice(TIPS) if rng.random() < TIP_SHARE else None,
            rate_after_s=rng.uniform(*RATE_AFTER_S),
        )

    async def place(self, plan: Plan) -> None:
        api, customer = self.city.api, plan.customer
        card = plan.card and self.city.cards
        quote = await api.call(
            customer,
            "POST",
            "/quote",
            json={"pickup": plan.pickup, "dropoff": plan.dropoff, "items": plan.items},
        )
        if not quote.ok:
            return
        order = await api.call(
            customer,
            "POST",
            "/orders",
            json={"quote_id": quote.body["id"], "payment_method": "stripe" if card else "cash"},
            # A retried booking must not book twice.
            headers={"Idempotency-Key": f"demo-{self.city.run_id}-order-{plan.number}"},
        )
        if not order.ok:
            return
        job_id, price = order.body["id"], order.body["price"]
        self.plans[job_id] = plan
        self.city.stats.track(job_id, int(price["amount"]), PAYING if card else SEARCHING)
        if plan.number <= self.city.options.show_tracking and order.body.get("tracking_url"):
            url = self.tracking_url(order.body["tracking_url"])
            how = "card" if card else "cash"
            self.city.console.say(
                f"  order {plan.number}: {money(price['amount'], price['currency'])} by {how}, tracking {url}"
            )
        if card:
            await self.pay(customer, job_id)

    def tracking_url(self, url: str) -> str:
        """The server builds its links on its configured public address; when that is not the
        address this demo reaches it on (a default left on another port, say), show the link
        on the address that is known to answer."""
        given, base = urlsplit(url), urlsplit(self.city.options.url)
        if (given.scheme, given.netloc) == (base.scheme, base.netloc):
            return url
        return f"{self.city.options.url}{given.path}"

    async def pay(self, customer: User, job_id: str) -> None:
        """Pay as the app would with Stripe.js, against the sandbox: start the payment, then
        confirm and complete it (:meth:`charge`)."""
        api = self.city.api
        start = await api.call(
            customer, "POST", f"/orders/{job_id}/payment-intent", json={"method": "stripe"}
        )
        if not start.ok:
            return
        paid = await self.charge(customer, start.body["payment_id"], f"/orders/{job_id}/complete-payment")
        if paid is not None and self.city.stats.states.get(job_id) == PAYING:
            self.city.stats.move(job_id, SEARCHING)

    async def charge(self, customer: User, payment_id: str, complete_path: str) -> dict[str, Any] | None:
        """Confirm a payment with the sandbox's test card that succeeds, then complete it at
        ``complete_path`` (the sandbox's webhook may already have; completing again reads the
        same outcome). The completed payment's answer, or None where a step failed."""
        api = self.city.api
        confirmed = await api.call(
            customer, "POST", f"/sandbox/payments/{payment_id}/confirm", json={"card_number": TEST_CARD}
        )
        if not confirmed.ok:
            return None
        done = await api.call(customer, "POST", complete_path, json={"payment_id": payment_id})
        return done.body if done.ok else None

    def delivered(self, job_id: str) -> None:
        plan = self.plans.get(job_id)
        if plan is not None:
            self.city.spawn(self.aftercare(job_id, plan))

    async def aftercare(self, job_id: str, plan: Plan) -> None:
        """Rate the driver, then tip a happy delivery by card. The first rated order of a run
        that can tip does, so that even a short demo shows the tip reach the driver."""
        api, customer, stats = self.city.api, plan.customer, self.city.stats
        await asyncio.sleep(plan.rate_after_s)
        body: dict[str, Any] = {"stars": plan.stars}
        if plan.comment:
            body["comment"] = plan.comment
        rated = await api.call(
            customer, "POST", f"/orders/{job_id}/rate", json=body, expect=("ALREADY_RATED",)
        )
        if rated.ok:
            stats.ratings += 1
        # Tips go through a payment provider; without the sandbox the demo cannot pay one.
        if not self.city.cards:
            return
        amount = (plan.tip if plan.stars >= 4 else None) if self.tipped else (plan.tip or TIPS[2])
        if amount is None:
            return
        self.tipped = True
        tip = await api.call(
            customer,
            "POST",
            f"/orders/{job_id}/tip",
            json={"amount": {"amount": amount, "currency": stats.currency}, "method": "stripe"},
            headers={"Idempotency-Key": f"demo-{self.city.run_id}-tip-{plan.number}"},
        )
        if not tip.ok:
            return
        done = await self.charge(customer, tip.body["payment_id"], f"/orders/{job_id}/tip/complete")
        if done is not None and done.get("status") == "succeeded":
            stats.tips += amount

    async def cancel_open(self) -> None:
        """At the end: cancel this run's orders still looking for a driver (free while
        searching), so that no order of a finished demo waits for a driver forever. An order
        a driver took meanwhile is left alone: cancelling it would cost a fee."""
        open_ids = [i for i, state in self.city.stats.states.items() if state in (PAYING, SEARCHING, OFFERED)]
        await asyncio.gather(*(self._cancel(i) for i in open_ids))

    async def _cancel(self, job_id: str) -> None:
        api, customer = self.city.api, self.plans[job_id].customer
        job = await api.call(customer, "GET", f"/jobs/{job_id}")
        if not job.ok or job.body.get("status") not in ("searching", "awaiting_payment"):
            return
        done = await api.call(
            customer,
            "PUT",
            f"/orders/{job_id}/cancel",
            json={"reason": "the demo ended"},
            expect=("INVALID_TRANSITION",),
        )
        if done.ok:
            self.city.stats.move(job_id, CANCELLED)
