"""Where job kinds come from: importing this module imports every module that registers one with @job_kind.

Consumers (`kura serve` embedded, `kura worker`) and dispatchers (`kura scheduler`) call
`kura.jobs.queue.load_kinds()`, which imports this module. Add one import line per module of kinds, e.g.
`from kura.channels.rakuten import orders  # noqa: F401` once it registers "rakuten.orders".
"""

from kura.channels.rakuten import (
    listing,  # noqa: F401  (rakuten.prices, rakuten.listing; outbox sweeper)
    orders,  # noqa: F401  (rakuten.orders.new, .status, .sync)
    products,  # noqa: F401  (rakuten.import_products, rakuten.sync_group)
    stock,  # noqa: F401  (rakuten.stock, rakuten.stock.sync, rakuten.stock.reconcile; sweeper)
)
from kura.channels.rakuten import shipping as rakuten_shipping  # noqa: F401  (rakuten.shipping; outbox kind)
from kura.shipping import service as shipping  # noqa: F401  (shipping.track)
