"""Imports every module that defines tables, so Base.metadata is complete (Alembic, tests)."""

from kura.auth import models as auth_models  # noqa: F401
from kura.bulk import models as bulk_models  # noqa: F401
from kura.catalog import models as catalog_models  # noqa: F401
from kura.inventory import channel_stock as inventory_channel_stock  # noqa: F401
from kura.inventory import models as inventory_models  # noqa: F401
from kura.jobs import leases as job_leases  # noqa: F401
from kura.jobs import outbox as job_outbox  # noqa: F401
from kura.jobs import runs as job_runs  # noqa: F401
from kura.jobs import schedules as job_schedules  # noqa: F401
from kura.orders import models as orders_models  # noqa: F401
from kura.shipping import models as shipping_models  # noqa: F401
from kura.stores import models as stores_models  # noqa: F401
from kura.stores import warehouses as stores_warehouses  # noqa: F401
