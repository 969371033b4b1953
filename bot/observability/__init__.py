"""What ops see: structlog set-up and masking, Prometheus metrics, OpenTelemetry traces."""
