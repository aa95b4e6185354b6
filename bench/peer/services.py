"""Advanced Alchemy's repository service for orders, provided per request over the plugin's session."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from advanced_alchemy.extensions.litestar import repository, service
from sqlalchemy.ext.asyncio import AsyncSession

from bench.peer.models import OrderModel


class OrderService(service.SQLAlchemyAsyncRepositoryService[OrderModel]):
    class Repo(repository.SQLAlchemyAsyncRepository[OrderModel]):
        model_type = OrderModel

    repository_type = Repo


async def provide_orders_service(db_session: AsyncSession) -> AsyncGenerator[OrderService, None]:
    async with OrderService.new(session=db_session) as orders_service:
        yield orders_service
