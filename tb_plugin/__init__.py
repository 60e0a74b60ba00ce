"""The kerasviz TensorBoard plugin (metadata shared with the writer, routes, dashboard)."""
