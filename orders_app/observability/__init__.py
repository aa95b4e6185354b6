"""What operators see of the running service: Prometheus metrics and W3C trace context."""
