"""GraphQL API server for AI marketing images and their refinements."""
