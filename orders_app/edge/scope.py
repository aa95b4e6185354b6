"""The ASGI scope keys and statuses the edge layers share with each other and with the error map."""

from __future__ import annotations

# Set in the scope by the guarded protocols (edge.guard) when the server answered on the application's
# behalf, e.g. 408 for a body that did not arrive in time; the access log and request metrics report it.
SERVER_STATUS_KEY = "orders_app.server_status"

# nginx's convention for "the client closed the connection before the response": no real response.
CLIENT_CLOSED_STATUS = 499
