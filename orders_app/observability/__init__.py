"""What operators see of the running service: Prometheus metrics, W3C trace context and the log format."""
