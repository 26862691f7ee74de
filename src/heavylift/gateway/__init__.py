"""The gateway in front of the engines: OpenAI proxy, /v1/files, /v1/batches, the dashboard."""
