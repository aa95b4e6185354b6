"""The peer: the orders API's create, get-one and list-a-page written the way Litestar's and Advanced
Alchemy's documentation show, untuned. bench/run serves it beside the app and reports the app's
throughput as a multiple of it (docs/bench.md, "Against the peer"). Not part of the service.
"""
