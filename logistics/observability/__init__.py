"""Operating the service: metrics, request logs and tracing."""
