"""Group commit: the store writes of many concurrent operations, one transaction at a time.

Every operation writes twice (its attempt before sending, its outcome after Stripe answers);
with dozens in flight, a transaction each would make the disk's flush the bottleneck, not
Stripe's rate limit. `Recorder.run(fn)` queues `fn(session)`; a single writer takes everything
queued and runs it in one transaction on a worker thread — so the event loop keeps serving
Stripe's answers meanwhile — and resolves each caller's future once that transaction is
committed. Nothing is reported as recorded before it is durable. If one function fails, the
batch is replayed one transaction per function, so only that one fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from billing_desk.store.uow import UnitOfWork

T = TypeVar("T")
Work = tuple[Callable[[Session], Any], "asyncio.Future[Any]"]


class Recorder:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._queue: list[Work] = []
        self._writer: asyncio.Task[None] | None = None

    async def run(self, fn: Callable[[Session], T]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all())
        return await asyncio.shield(future)

    async def _write_all(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                outcomes = await asyncio.to_thread(self._commit, batch)
            except BaseException as exc:  # the transaction itself failed: every caller hears it
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _commit(self, batch: list[Work]) -> list[tuple[bool, Any]]:
        try:
            with UnitOfWork(self._engine, write=True) as uow:
                outcomes: list[tuple[bool, Any]] = [(True, fn(uow.session)) for fn, _ in batch]
                uow.commit()
            return outcomes
        except Exception:
            if len(batch) == 1:
                raise
        # One of them failed and took the batch down with it: each alone, so only it fails.
        # (Savepoints would isolate them up front, at a cost paid by every write.)
        return [self._commit_one(fn) for fn, _ in batch]

    def _commit_one(self, fn: Callable[[Session], Any]) -> tuple[bool, Any]:
        try:
            with UnitOfWork(self._engine, write=True) as uow:
                value = fn(uow.session)
                uow.commit()
        except Exception as exc:
            return False, exc
        return True, value
