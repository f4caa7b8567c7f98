"""Operations: event journal and log lines, alerts, metrics, backups, scheduled jobs, NATS."""
