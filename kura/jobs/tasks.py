"""Where job kinds come from: importing this module imports every module that registers one with @job_kind.

Consumers (`kura serve` embedded, `kura worker`) and dispatchers (`kura scheduler`) call
`kura.jobs.queue.load_kinds()`, which imports this module. Add one import line per module of kinds, e.g.
`from kura.channels.rakuten import orders  # noqa: F401` once it registers "rakuten.orders".
"""
