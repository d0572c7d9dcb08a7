"""What every app uses: problem documents and the error-code table, database helpers, publishing
after commit, request ids, logs and metrics. Nothing here imports an app of the project."""
