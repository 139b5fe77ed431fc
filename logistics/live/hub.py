"""Live events to their subscribers by groups: one rendering per event and group, not per socket.

Every subscriber is a *member* of a *group*. The members of a group asked for the same stream
in the same words (the same document, variables and stream key), so an event becomes their
answer once: one view, one GraphQL execution, one encoding; a socket then gets those bytes with
its own operation id spliced in (:mod:`logistics.live.outbox`).

What differs between the members of a group is who they are, and that never reaches the
rendering:

- each member is authorized on its own when it joins (by the resolvers, which hand the hub a
  :class:`Watch`), again whenever its job changes hands, and it is dropped when its token
  expires;
- a stream that filters per subscriber (the open feed) gives each member a ``select``, its own
  verdict on an event (which *bucket* it is in, or none). The view is built from the event and
  the bucket only, once per bucket, so one member's facts cannot colour another's answer.

One broker subscription per channel and process feeds every group on it. A job's streams end
after the event that finishes the job: the hub listens on the job's channel for as long as any
group of the job lives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Protocol

from logistics.errors import DomainError, ErrorCode, not_found
from logistics.job.status import is_terminal
from logistics.observability.metrics import LIVE_SUBSCRIPTIONS
from logistics.pubsub import PubSub, SharedEvent, Subscription, SubscriptionClosed, job_channel

log = logging.getLogger("logistics.live")

# The one bucket of a stream that does not filter per subscriber.
ALL = "all"
Select = Callable[[SharedEvent], Hashable | None]
View = Callable[[SharedEvent, Hashable], Any]
Render = Callable[[Any], Awaitable[Any]]


@dataclass(frozen=True, eq=False)
class Watch:
    """What one subscriber listens to, as its authorization decided.

    ``key`` names the stream: two watches with equal keys stream the same views. ``view`` builds
    what a bucket of subscribers sees of an event, from the event and the bucket alone;
    ``select`` (per subscriber) says which bucket this subscriber is in, or None to skip the
    event; without it every event goes to everyone. A watch with a ``job_id`` ends with that
    job, and ``finished`` says the job had already ended when the subscriber asked.
    """

    key: tuple[Hashable, ...]
    channel: str
    view: View
    select: Select | None = None
    latest_only: bool = False
    job_id: str | None = None
    finished: bool = False
    # For a stream of states (positions): an event whose ``order`` is not above the last one
    # delivered on its channel is stale and dropped, however the processes that published
    # them raced.
    order: Callable[[SharedEvent], Any] | None = None


class Member(Protocol):
    """One subscriber: a socket's operation, or a stream read by the subscription resolver."""

    watch: Watch
    sub: str
    expires_at: float | None

    def deliver(self, payload: Any) -> None: ...

    def fail(self, error: DomainError) -> None: ...

    def end(self) -> None: ...

    async def recheck(self) -> bool:
        """Whether the subscriber may still watch (a fresh authorization)."""
        ...


class Group:
    __slots__ = ("channel", "job", "key", "members", "render", "watch")

    def __init__(self, key: Hashable, watch: Watch, render: Render | None, channel: Channel) -> None:
        self.key = key
        self.watch = watch
        self.render = render
        self.channel = channel
        self.job: JobWatch | None = None
        self.members: dict[Member, None] = {}


class Channel:
    """One broker subscription and the task that renders its events for every group on it."""

    def __init__(
        self, name: str, latest_only: bool, order: Callable[[SharedEvent], Any] | None = None
    ) -> None:
        self.name = name
        self.latest_only = latest_only
        self.order = order
        self.last: Any = None
        self.groups: set[Group] = set()
        self.job: JobWatch | None = None  # set while this is a watched job's own channel
        self.subscription: Subscription | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        # Retrieved here, so a failure nobody awaited is not reported as lost.
        self.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.task: asyncio.Task[None] | None = None

    @property
    def idle(self) -> bool:
        return not self.groups and self.job is None


class JobWatch:
    """The groups of one job, and what the hub last heard of its driver."""

    def __init__(self, job_id: str, channel: Channel) -> None:
        self.job_id = job_id
        self.channel = channel
        self.groups: set[Group] = set()
        self.driver_id: object = JobWatch  # not heard yet: the first status event rechecks


class Hub:
    def __init__(self, pubsub: PubSub) -> None:
        self.pubsub = pubsub
        self._channels: dict[str, Channel] = {}
        self._groups: dict[Hashable, Group] = {}
        self._jobs: dict[str, JobWatch] = {}
        self._group_of: dict[Member, Group] = {}
        self._expiry: dict[Member, asyncio.TimerHandle] = {}

    # -- joining and leaving -------------------------------------------------------------

    async def join(
        self, member: Member, *, render_key: Hashable = None, render: Render | None = None
    ) -> None:
        """Add an authorized member; returns once its events are flowing. ``render`` turns a
        view into what members of this kind are sent (None: the view itself), and
        ``render_key`` is everything ``render`` depends on."""
        watch = member.watch
        if watch.finished:
            member.end()
            return
        key = (render_key, watch.key)
        group = self._groups.get(key)
        if group is None:
            channel = self._channel(watch.channel, watch.latest_only, watch.order)
            group = self._groups[key] = Group(key, watch, render, channel)
            group.channel.groups.add(group)
            if watch.job_id is not None:
                group.job = self._job(watch.job_id)
                group.job.groups.add(group)
        group.members[member] = None
        if member not in self._group_of:
            LIVE_SUBSCRIPTIONS.inc()
        self._group_of[member] = group
        if member.expires_at is not None:
            delay = max(0.0, member.expires_at - time.time())
            self._expiry[member] = asyncio.get_running_loop().call_later(delay, self._expire, member)
        waits = [group.channel.ready] + ([group.job.channel.ready] if group.job is not None else [])
        try:
            for ready in waits:
                await asyncio.shield(ready)
        except SubscriptionClosed as closed:
            self.leave(member)
            raise DomainError(ErrorCode.UNAVAILABLE, str(closed)) from closed

    def leave(self, member: Member) -> None:
        """Forget a member (it unsubscribed, or the hub ended or failed it); idempotent."""
        timer = self._expiry.pop(member, None)
        if timer is not None:
            timer.cancel()
        group = self._group_of.pop(member, None)
        if group is None:
            return
        LIVE_SUBSCRIPTIONS.dec()
        group.members.pop(member, None)
        if group.members:
            return
        self._groups.pop(group.key, None)
        group.channel.groups.discard(group)
        self._release(group.channel)
        job = group.job
        if job is not None:
            job.groups.discard(group)
            if not job.groups and self._jobs.get(job.job_id) is job:
                del self._jobs[job.job_id]
                job.channel.job = None
                self._release(job.channel)

    def _end(self, members: list[Member], error: DomainError | None = None) -> None:
        for member in members:
            self.leave(member)
            if error is None:
                member.end()
            else:
                member.fail(error)

    def _expire(self, member: Member) -> None:
        self._expiry.pop(member, None)
        self._end([member], DomainError(ErrorCode.UNAUTHENTICATED, "token expired"))

    @property
    def groups(self) -> int:
        return len(self._groups)

    @property
    def members(self) -> int:
        return len(self._group_of)

    # -- channels ------------------------------------------------------------------------

    def _channel(
        self, name: str, latest_only: bool, order: Callable[[SharedEvent], Any] | None = None
    ) -> Channel:
        channel = self._channels.get(name)
        if channel is None:
            channel = self._channels[name] = Channel(name, latest_only, order)
            channel.task = asyncio.create_task(self._run(channel), name=f"live:{name}")
        return channel

    def _job(self, job_id: str) -> JobWatch:
        job = self._jobs.get(job_id)
        if job is None:
            channel = self._channel(job_channel(job_id), False)
            job = self._jobs[job_id] = JobWatch(job_id, channel)
            channel.job = job
        return job

    def _release(self, channel: Channel) -> None:
        if channel.idle and channel.task is not None:
            # Out of the map at once: a member joining while this one winds down gets a new one.
            if self._channels.get(channel.name) is channel:
                del self._channels[channel.name]
            channel.task.cancel()

    async def _run(self, channel: Channel) -> None:
        try:
            async with self.pubsub.subscribe(channel.name, latest_only=channel.latest_only) as subscription:
                channel.subscription = subscription
                channel.ready.set_result(None)
                async for event in subscription:
                    await self._deliver(channel, event)
            # The job ended: what was buffered has gone out; now its streams complete.
            self._end([m for group in list(channel.groups) for m in group.members])
        except SubscriptionClosed as closed:
            self._fail_channel(channel, closed)
        except asyncio.CancelledError:
            if not channel.ready.done():
                channel.ready.cancel()
            raise
        except Exception as exc:
            log.exception("live channel %s failed", channel.name)
            self._fail_channel(channel, SubscriptionClosed(f"the event stream failed: {exc!r}"))
        finally:
            if self._channels.get(channel.name) is channel:
                del self._channels[channel.name]

    def _fail_channel(self, channel: Channel, closed: SubscriptionClosed) -> None:
        if not channel.ready.done():
            channel.ready.set_exception(closed)
        error = DomainError(ErrorCode.UNAVAILABLE, str(closed))
        groups = set(channel.groups)
        if channel.job is not None:
            # Without its job's channel nobody can tell these streams when the job ends.
            groups |= channel.job.groups
        self._end([m for group in groups for m in group.members], error)

    async def _deliver(self, channel: Channel, event: dict[str, Any]) -> None:
        shared = event if isinstance(event, SharedEvent) else SharedEvent(event)
        if channel.order is not None:
            try:
                rank = channel.order(shared)
            except (KeyError, TypeError, ValueError):
                log.warning("dropped an event without its order on %s", channel.name)
                return
            if channel.last is not None and rank <= channel.last:
                return
            channel.last = rank
        job = channel.job
        status = shared.get("status") if job is not None else None
        if job is not None and isinstance(status, str) and shared.get("driver_id") != job.driver_id:
            # The job changed hands: whoever lost it must not hear this event or any after it.
            job.driver_id = shared.get("driver_id")
            await self._recheck(job)
        for group in list(channel.groups):
            await self._render(group, shared)
        if job is not None and isinstance(status, str) and is_terminal(status):
            self._finish(job)

    async def _render(self, group: Group, event: SharedEvent) -> None:
        members = list(group.members)
        if not members:
            return
        buckets: dict[Hashable, list[Member]]
        if group.watch.select is None:
            buckets = {ALL: members}
        else:
            buckets = {}
            for member in members:
                select = member.watch.select
                bucket = select(event) if select is not None else ALL
                if bucket is not None:
                    buckets.setdefault(bucket, []).append(member)
        for bucket, chosen in buckets.items():
            try:
                view = group.watch.view(event, bucket)
                payload = view if group.render is None else await group.render(view)
            except Exception:
                # One event that cannot be shown must not end the stream for everyone.
                log.exception("could not render an event on %s", group.channel.name)
                continue
            for member in chosen:
                if member in group.members:
                    member.deliver(payload)

    # -- a job's life --------------------------------------------------------------------

    def _finish(self, job: JobWatch) -> None:
        for group in list(job.groups):
            subscription = group.channel.subscription
            if group.channel is job.channel or subscription is None:
                # Its last event, the one that finished the job, has just gone out.
                self._end(list(group.members))
            else:
                # Another channel of the job (positions, chat): what it still holds goes out
                # first, then its task ends its groups.
                subscription.end()

    async def _recheck(self, job: JobWatch) -> None:
        """The job changed hands: ask again, once per user, whether its members may watch."""
        by_user: dict[str, list[Member]] = {}
        for group in list(job.groups):
            for member in group.members:
                by_user.setdefault(member.sub, []).append(member)
        for members in by_user.values():
            try:
                allowed = await members[0].recheck()
            except Exception:
                # The database is unreachable: keep them; the stream still ends with the job.
                log.warning("could not recheck watchers of job %s", job.job_id, exc_info=True)
                continue
            if not allowed:
                self._end(members, not_found("job"))

    async def close(self) -> None:
        """Stop every channel (the server is shutting down)."""
        tasks = [channel.task for channel in self._channels.values() if channel.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
