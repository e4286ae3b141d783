"""Task chains (features.md §16): definitions, runs with their durable history, and the step worker."""
