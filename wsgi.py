import gc

from consentry import create_app

app = create_app()
# What the app built at start-up (the policy, compiled statements, schemas) lives as long
# as the process: kept out of the garbage collector's scans, which otherwise walk it on
# every full collection of a request-heavy worker.
gc.freeze()
