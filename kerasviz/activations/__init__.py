"""Forward-only methods: filters, embeddings, maximally activating patches, occlusion."""
